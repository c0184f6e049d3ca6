import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CORE_SCHEMA, load, loadAll, mergeTag } from 'js-yaml';
import {
  bullmqPrefix,
  ConfigValidationError,
  ENV_DEFAULTS,
  isPlaceholderSecret,
  loadConfig,
} from '@codelab/platform';
import { AGENT_RUNS_QUEUE } from '@codelab/runs';
import { TEST_REDIS_URL, uniqueSuffix } from './support/test-env';

/**
 * The shipped deployment files (docker-compose.yml, deploy/Dockerfile, deploy/k8s/*.yaml) parsed
 * and held to what the code really does: queue names, configuration, placeholders, probes.
 */
const ROOT = join(__dirname, '..');
const read = (...path: string[]) => readFileSync(join(ROOT, ...path), 'utf8');

type Obj = Record<string, any>;

// `<<: *app-env` is YAML 1.1's merge key, which docker compose honours.
const compose = load(read('docker-compose.yml'), {
  schema: CORE_SCHEMA.withTags(mergeTag),
}) as Obj;

const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const k8sFiles = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f));
const k8s: { file: string; doc: Obj }[] = k8sFiles.flatMap((file) =>
  (loadAll(readFileSync(join(K8S_DIR, file), 'utf8')) as Obj[])
    .filter(Boolean)
    .map((doc) => ({ file, doc })),
);
const ofKind = (kind: string) => k8s.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const named = (kind: string, name: string) => {
  const found = ofKind(kind).find((d) => d.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return found;
};

/** `ENV` of the Dockerfile's last stage (the image the pods and compose services run). */
const imageEnv: Record<string, string> = (() => {
  const runtime =
    read('deploy', 'Dockerfile')
      .split(/^FROM /m)
      .at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const [, line] of runtime.matchAll(/^ENV (.+)$/gm))
    for (const [, key, value] of line.matchAll(/(\w+)=(\S+)/g)) env[key] = value;
  return env;
})();

const randomSecret = () => randomBytes(48).toString('base64url');

/** loadConfig's answer: the config, or the variables it refused. */
function configOf(env: Record<string, string>) {
  try {
    return { config: loadConfig(env, { appRoot: '/nonexistent-app-root' }), refused: [] };
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    return { config: undefined, refused: error.problems.map((p) => p.split(':')[0]) };
  }
}

describe('docker-compose.yml', () => {
  const services = compose.services as Obj;
  /** Compose's `${VAR:-default}` with VAR unset, or set to `set`. */
  const interpolate = (env: Obj, set: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        String(v).replace(/\$\{(\w+):-([^}]*)\}/g, (_, name: string, fallback: string) =>
          name in set ? set[name] : fallback,
        ),
      ]),
    );

  it.each(['api', 'worker'])(
    '%s keeps memory in Qdrant: QDRANT_URL selects the Qdrant store',
    (name) => {
      const env = services[name].environment as Obj;
      expect(env.QDRANT_URL).toBe('http://qdrant:6333');
      const { config, refused } = configOf({
        ...imageEnv,
        ...interpolate(env, { JWT_SECRET: randomSecret() }),
      });
      expect(refused).toEqual([]);
      // MemoryModule picks QdrantMemoryStore exactly when this is set.
      expect(config?.memory.qdrantUrl).toBe('http://qdrant:6333');
      expect(config?.role).toBe(name);
      expect(config?.dataDir).toBe('/data');
    },
  );

  it.each(['api', 'worker'])(
    '%s starts only once PostgreSQL, Redis and Qdrant are healthy, and has a healthcheck',
    (name) => {
      const dependsOn = services[name].depends_on as Obj;
      for (const dep of ['postgres', 'redis', 'qdrant'])
        expect({ dep, ...dependsOn[dep] }).toEqual({ dep, condition: 'service_healthy' });
      for (const dep of Object.keys(dependsOn)) {
        expect({ dep, condition: dependsOn[dep].condition }).toEqual({
          dep,
          condition: 'service_healthy',
        });
        expect({ dep, healthcheck: !!services[dep].healthcheck?.test }).toEqual({
          dep,
          healthcheck: true,
        });
      }
      expect(services[name].healthcheck.test.join(' ')).toMatch(/\/ready/);
    },
  );

  it('the worker waits for a healthy API (which applies the migrations)', () => {
    expect(services.worker.depends_on.api).toEqual({ condition: 'service_healthy' });
    expect(services.api.environment.DB_MIGRATE_ON_START).toBe('true');
    expect(services.worker.environment.DB_MIGRATE_ON_START).toBe('false');
  });

  it('pins a Qdrant release within one minor version of the client library', () => {
    const image = services.qdrant.image as string;
    const match = /^qdrant\/qdrant:v(\d+)\.(\d+)\.(\d+)$/.exec(image);
    expect(match).not.toBeNull();
    const client = (
      JSON.parse(read('node_modules', '@qdrant', 'js-client-rest', 'package.json')) as {
        version: string;
      }
    ).version.split('.');
    // @qdrant/js-client-rest warns at every start beyond that (ClientVersion.isCompatible).
    expect(Number(match?.[1])).toBe(Number(client[0]));
    expect(Math.abs(Number(match?.[2]) - Number(client[1]))).toBeLessThanOrEqual(1);
    expect(services.qdrant.healthcheck.test.join(' ')).toMatch(/\/readyz/);
  });

  it('runs Redis with noeviction, and the API and worker share the data volume', () => {
    expect(services.redis.command.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    for (const name of ['api', 'worker'])
      expect(services[name].volumes).toContain(`appdata:${imageEnv.DATA_DIR}`);
  });

  it('ships a JWT_SECRET fallback that production refuses (a commented placeholder)', () => {
    const env = interpolate(services.api.environment as Obj);
    expect(isPlaceholderSecret(env.JWT_SECRET)).toBe(true);
    expect(configOf({ ...imageEnv, ...env }).refused).toEqual(['JWT_SECRET']);
    expect(read('docker-compose.yml')).toMatch(/# Set JWT_SECRET .*\n.*refuse to start/);
  });
});

describe('deploy/k8s', () => {
  const configMap = named('ConfigMap', 'codelab-config').data as Record<string, string>;
  const deployments = ofKind('Deployment');
  const containerOf = (d: Obj) => d.spec.template.spec.containers[0] as Obj;
  const envOf = (container: Obj) =>
    Object.fromEntries(
      ((container.env ?? []) as { name: string; value: string }[]).map((e) => [e.name, e.value]),
    );
  const worker = deployments.find((d) => envOf(containerOf(d)).APP_ROLE === 'worker') as Obj;
  const api = deployments.find((d) => envOf(containerOf(d)).APP_ROLE === 'api') as Obj;
  const secretName = (container: Obj) =>
    (container.envFrom as Obj[]).find((e) => e.secretRef)?.secretRef.name as string;
  const secret = named('Secret', secretName(containerOf(worker))).stringData as Record<
    string,
    string
  >;
  /** What a container's process sees: ConfigMap, then Secret (envFrom), then its own env. */
  const processEnv = (container: Obj, secretValues: Record<string, string> = secret) => ({
    ...imageEnv,
    ...configMap,
    ...secretValues,
    ...envOf(container),
  });

  describe('the worker scales on queue depth (KEDA), not CPU', () => {
    const scaled = ofKind('ScaledObject');
    const keyPrefix = bullmqPrefix({
      redisKeyPrefix: configMap.REDIS_KEY_PREFIX ?? ENV_DEFAULTS.REDIS_KEY_PREFIX,
    });
    const waitList = `${keyPrefix}:${AGENT_RUNS_QUEUE}:wait`;

    it('one ScaledObject targets the worker Deployment, never to zero; no CPU autoscaler on it', () => {
      expect(scaled).toHaveLength(1);
      const [so] = scaled;
      expect(so.apiVersion).toBe('keda.sh/v1alpha1');
      expect(so.spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: worker.metadata.name,
      });
      // Workers also run the elected relay, domain events and approval deadlines.
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
      expect(
        ofKind('HorizontalPodAutoscaler').filter(
          (h) => h.spec.scaleTargetRef.name === worker.metadata.name,
        ),
      ).toEqual([]);
      // The autoscaler owns the replica count; applying the Deployment must not reset it.
      expect(worker.spec.replicas).toBeUndefined();
    });

    it('reads the runs queue the code uses (its wait list) from the Redis the app uses', () => {
      const triggers = scaled[0].spec.triggers as Obj[];
      expect(triggers.map((t) => t.metadata.listName)).toContain(waitList);
      const redis = new URL(configMap.REDIS_URL);
      for (const t of triggers) {
        expect(t.type).toBe('redis');
        expect(t.metadata.listName).toMatch(
          new RegExp(`^${keyPrefix}:${AGENT_RUNS_QUEUE}:(wait|active)$`),
        );
        expect(t.metadata.address).toBe(`${redis.hostname}:${redis.port || 6379}`);
        expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
        // Its password comes from the app's Secret, through a TriggerAuthentication.
        const auth = named('TriggerAuthentication', t.authenticationRef.name);
        for (const ref of auth.spec.secretTargetRef as Obj[]) {
          expect(ref.name).toBe(secretName(containerOf(worker)));
          expect(Object.keys(secret)).toContain(ref.key);
        }
      }
    });

    it('the wait list it reads is where BullMQ puts a run job (real Redis)', async () => {
      const redisKeyPrefix = `codelab-test:${uniqueSuffix()}:`;
      const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
      const queue = new Queue(AGENT_RUNS_QUEUE, {
        connection,
        prefix: bullmqPrefix({ redisKeyPrefix }),
      });
      try {
        await queue.add('run', { runId: 'r', dispatch: 1 }, { jobId: 'r.1' });
        // The manifest's name with this test's prefix in place of the default one.
        const key = waitList.replace(keyPrefix, bullmqPrefix({ redisKeyPrefix }));
        expect(await connection.llen(key)).toBe(1);
      } finally {
        await queue.obliterate({ force: true });
        await queue.close();
        connection.disconnect();
      }
    });
  });

  describe('secrets and configuration', () => {
    it('every Secret value is empty or a placeholder, in a commented template production refuses', () => {
      for (const { file, doc } of k8s.filter((d) => d.doc.kind === 'Secret')) {
        const text = readFileSync(join(K8S_DIR, file), 'utf8');
        expect(text).toMatch(/^# TEMPLATE, not a secret/m);
        expect(text).toMatch(/kubectl create secret generic/);
        for (const [name, value] of Object.entries(doc.stringData as Record<string, string>)) {
          // A repository never ships a real secret.
          expect({ name, ok: value === '' || isPlaceholderSecret(value) }).toEqual({
            name,
            ok: true,
          });
        }
      }
    });

    it('placeholders appear nowhere but in the Secret template', () => {
      const offenders: string[] = [];
      const walk = (value: unknown, path: string) => {
        if (typeof value === 'string' && isPlaceholderSecret(value)) offenders.push(path);
        else if (value && typeof value === 'object')
          for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
      };
      for (const { file, doc } of k8s)
        if (doc.kind !== 'Secret') walk(doc, `${file}:${doc.kind}/${doc.metadata?.name}`);
      expect(offenders).toEqual([]);
    });

    it.each(['api', 'worker', 'migrate'])(
      'the %s pods refuse to start with the shipped Secret, and start with a real one',
      (role) => {
        const container =
          role === 'migrate'
            ? (named('Job', 'codelab-migrate').spec.template.spec.containers[0] as Obj)
            : containerOf(role === 'api' ? api : worker);
        // The real config loader, as the pod runs it (production, ConfigMap + Secret + env).
        expect(configOf(processEnv(container)).refused).toEqual(['JWT_SECRET']);
        expect(() => loadConfig(processEnv(container))).toThrow(
          /JWT_SECRET: is a sample or placeholder value/,
        );
        const real = configOf(processEnv(container, { ...secret, JWT_SECRET: randomSecret() }));
        expect(real.refused).toEqual([]);
        expect(real.config?.nodeEnv).toBe('production');
        // Memory in Qdrant, as in docker-compose.yml.
        expect(real.config?.memory.qdrantUrl).toBe('http://qdrant:6333');
      },
    );

    it('the API and worker pods mount the shared data volume at DATA_DIR', () => {
      const claim = named('PersistentVolumeClaim', 'codelab-data');
      expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
      for (const d of [api, worker]) {
        const volume = (d.spec.template.spec.volumes as Obj[]).find(
          (v) => v.persistentVolumeClaim?.claimName === claim.metadata.name,
        );
        expect(volume).toBeDefined();
        expect(containerOf(d).volumeMounts).toContainEqual({
          name: volume?.name,
          mountPath: imageEnv.DATA_DIR,
        });
      }
    });

    it('probes: /health for liveness, /ready for readiness, on the port the process serves', () => {
      for (const d of [api, worker]) {
        const c = containerOf(d);
        expect(c.livenessProbe.httpGet.path).toBe('/health');
        expect(c.readinessProbe.httpGet.path).toBe('/ready');
        const port = (c.ports as Obj[]).find((p) => p.name === c.readinessProbe.httpGet.port);
        const env = envOf(c);
        expect(String(port?.containerPort)).toBe(d === api ? env.PORT : env.WORKER_PORT);
      }
    });
  });
});
