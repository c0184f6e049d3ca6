import { createTestApp, registerUser, type TestApp, type TestUser } from '../support/test-app';
import { httpStatus, waitFor, withDeadline } from '../support/child-process';
import { createProject } from '../support/sessions-helpers';
import { WorkerFleet, workerEnvFor } from '../support/worker-fleet';
import { faultMetrics, RunsDb } from '../support/fault-support';
import { TEST_REDIS_URL } from '../support/test-env';

/*
 * Durable domain events across processes. The API (this process, APP_ROLE=api) deletes an agent:
 * `agent.deleted` is recorded in that transaction, published by the elected relay in a worker
 * process and handled there (its memory is forgotten, its queued run cancelled). Then the same
 * with a worker killed (SIGKILL) at the worst moments: after the relay enqueued the event but
 * before it marked it published, and after a handler committed but before the job was
 * acknowledged. Required: every handler's effect happens once (one handling record per handler,
 * one cancellation), even though the event is delivered twice.
 */
describe('domain events across processes and crashes (fault)', () => {
  let t: TestApp;
  let db: RunsDb;
  let user: TestUser;
  let fleet: WorkerFleet;

  beforeAll(async () => {
    t = await createTestApp({ env: { APP_ROLE: 'api' } });
    db = new RunsDb(t.config.databaseUrl);
    user = await registerUser(t.http);
    fleet = new WorkerFleet({
      env: workerEnvFor(t, TEST_REDIS_URL, { RUN_JOB_LOCK_MS: '2000', LOG_LEVEL: 'warn' }),
    });
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await t?.close().catch(() => undefined);
  }, 60_000);

  /** An agent with a memory and a run waiting behind a parked one, then deleted through the API. */
  const deleteAgentWithWork = async (label: string) => {
    const projectId = await createProject(t.http, user, label);
    const agents = (await t.http.get(`/v1/my/projects/${projectId}/agents`).set(user.auth)).body
      .items as { id: string; name: string }[];
    const holder = agents.find((a) => a.name === 'CodeAssistant')!;
    const doomed = (
      await t.http
        .post(`/v1/my/projects/${projectId}/agents`)
        .set(user.auth)
        .send({ name: `Doomed-${label}` })
        .expect(201)
    ).body as { id: string; name: string };
    // A memory of the doomed agent, and a run of it queued behind another agent's parked run.
    await db.query(
      `insert into agent_memories (id, owner_id, project_id, agent_id, content, metadata, embedding_model, embedding, created_at)
       values (gen_random_uuid(), $1, $2, $3, 'remember me', '{}', 'local', '{1,0}', now())`,
      [user.id, projectId, doomed.id],
    );
    await t.http
      .patch(`/v1/my/projects/${projectId}/agents/${holder.id}`)
      .set(user.auth)
      .send({ tools: ['test_park'] })
      .expect(200);
    const sid = (
      await t.http
        .post(`/v1/my/projects/${projectId}/sessions`)
        .set(user.auth)
        .send({ agent: 'CodeAssistant' })
        .expect(201)
    ).body.id as string;
    const post = (content: string, target?: string) =>
      t.http
        .post(`/v1/my/projects/${projectId}/sessions/${sid}/messages`)
        .set(user.auth)
        .send({ content, ...(target ? { target_agent: target } : {}) })
        .expect(202);
    const parked = (await post('hold\n/tool test_park {}')).body.run.id as string;
    const queued = (await post('for the doomed one', doomed.name)).body.run.id as string;
    await waitFor('the holder to park', async () => {
      const [r] = await db.query<{ status: string }>('select status from runs where id = $1', [
        parked,
      ]);
      return r?.status === 'awaiting_approval';
    });
    await t.http
      .delete(`/v1/my/projects/${projectId}/agents/${doomed.id}`)
      .set(user.auth)
      .expect(204);
    const [event] = await db.query<{ id: string }>(
      `select id from domain_events where type = 'agent.deleted' and aggregate_id = $1`,
      [doomed.id],
    );
    return { agentId: doomed.id, eventId: event.id, queued };
  };

  const effectsApplied = async (agentId: string, eventId: string, queued: string) => {
    const handlings = await db.query<{ handler: string }>(
      'select handler from domain_event_handlings where event_id = $1 order by handler',
      [eventId],
    );
    const [{ n: memories }] = await db.query<{ n: number }>(
      'select count(*)::int as n from agent_memories where agent_id = $1',
      [agentId],
    );
    const [run] = await db.query<{ status: string; error: { code: string } | null }>(
      'select status, error from runs where id = $1',
      [queued],
    );
    const finished = await db.query<{ id: string }>(
      `select id from domain_events where type = 'run.finished' and aggregate_id = $1`,
      [queued],
    );
    return { handlings: handlings.map((h) => h.handler), memories, run, finished: finished.length };
  };

  /** Each case starts with no worker alive: the ones it starts are the only relay and handlers. */
  beforeEach(async () => {
    for (let slot = 0; slot < fleet.size; slot++) if (fleet.alive(slot)) await fleet.kill(slot);
  });

  const EXPECTED_HANDLERS = ['agents.forget-agent-memory', 'runs.cancel-deleted-agent-runs'];

  const metric = async (slot: number, outcome: string) => {
    const text = await (await fetch(`${fleet.url(slot)}/metrics`)).text();
    return text
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('codelab_domain_events_handled_total{') &&
          l.includes(`outcome="${outcome}"`),
      )
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  };

  it('handles, in a worker process, an event the API process recorded', async () => {
    await fleet.spawn(0);
    const { agentId, eventId, queued } = await deleteAgentWithWork('cross');
    await waitFor(
      'the handlers to run',
      async () => (await effectsApplied(agentId, eventId, queued)).handlings.length === 2,
      20_000,
    );
    const effects = await effectsApplied(agentId, eventId, queued);
    faultMetrics('domain-events-cross-process', effects);
    expect(effects).toEqual({
      handlings: EXPECTED_HANDLERS,
      memories: 0,
      run: { status: 'cancelled', error: expect.objectContaining({ code: 'AGENT_DELETED' }) },
      finished: 1,
    });
  }, 120_000);

  it.each([
    [
      'events:published:agent.deleted',
      'after the relay enqueued the event, before it marked it published',
    ],
    ['events:handled:agent.deleted', 'after a handler committed, before the job was acknowledged'],
  ])(
    'applies each handler once when a worker is killed %s (%s)',
    async (point) => {
      // The only worker, so it is the elected relay and the event's handler: it dies at the point.
      const victim = await fleet.spawn(0, false, { CODELAB_CRASH_AT: point });
      await waitFor(
        'the victim to be ready',
        async () => (await httpStatus(`${fleet.url(0)}/ready`)) === 200,
        30_000,
      );
      const { agentId, eventId, queued } = await deleteAgentWithWork(point.split(':')[1]);
      await withDeadline(`the worker to die at ${point}`, victim.app.exited, 30_000);
      expect(victim.app.child.signalCode).toBe('SIGKILL');

      // A fresh worker takes over as relay and handler.
      await fleet.spawn(1);
      await waitFor(
        'the handlers to run',
        async () => (await effectsApplied(agentId, eventId, queued)).handlings.length === 2,
        30_000,
      );
      // The redelivered event was seen again and skipped (handled once, delivered twice).
      if (point.startsWith('events:handled'))
        await waitFor(
          'the duplicate delivery to be skipped',
          async () => (await metric(1, 'duplicate')) >= 1,
          30_000,
        );
      // The successor is the relay now: it marks what the victim left unmarked.
      const published = async () =>
        (
          await db.query<{ published: boolean }>(
            'select published_at is not null as published from domain_events where id = $1',
            [eventId],
          )
        )[0].published;
      await waitFor('the event to be marked published', published, 30_000);
      const effects = await effectsApplied(agentId, eventId, queued);
      faultMetrics(`domain-events-${point.split(':')[1]}`, {
        ...effects,
        published: await published(),
        applied_by_successor: await metric(1, 'applied'),
        duplicates_skipped_by_successor: await metric(1, 'duplicate'),
      });
      expect(effects).toEqual({
        handlings: EXPECTED_HANDLERS,
        memories: 0,
        run: { status: 'cancelled', error: expect.objectContaining({ code: 'AGENT_DELETED' }) },
        finished: 1,
      });
      expect(await published()).toBe(true);
    },
    180_000,
  );
});
