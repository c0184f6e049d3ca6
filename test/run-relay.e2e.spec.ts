import { getQueueToken } from '@nestjs/bullmq';
import { MikroORM } from '@mikro-orm/postgresql';
import { type Queue, UnrecoverableError, Worker } from 'bullmq';
import { Client } from 'pg';
import { bullmqConnection } from '@codelab/platform';
import { RunDispatchRelay } from '@codelab/runs';
import { createTestApp, registerUser, type TestApp, type TestUser } from './support/test-app';
import { waitFor } from './support/child-process';
import { createProject, createSession, sendMessage, waitForRun } from './support/sessions-helpers';

/**
 * The relay: one elected leader among the workers (a PostgreSQL advisory lock), which takes over
 * when the leader's connection dies, and which records a dead letter as failed instead of
 * re-queuing it. Ticks are driven by the test (the interval is ten minutes).
 */
describe('run relay: election and dead letters (e2e)', () => {
  const relayEnv = { RUN_RELAY_INTERVAL_MS: '600000', RUN_STALE_AFTER_MS: '1000' };
  let api: TestApp;
  let user: TestUser;
  const workers: TestApp[] = [];

  beforeAll(async () => {
    // The API alone first: no processor takes jobs until the test says so.
    api = await createTestApp({ env: { APP_ROLE: 'api', ...relayEnv } });
    user = await registerUser(api.http);
  });
  afterAll(async () => {
    for (const w of workers) await w.close();
    await api.close();
  });

  const startWorker = async () => {
    const worker = await createTestApp({ shareWith: api, env: { APP_ROLE: 'all', ...relayEnv } });
    workers.push(worker);
    return worker;
  };
  const sql = async <T>(query: string, params: unknown[] = []): Promise<T> =>
    (await api.app.get(MikroORM).em.getConnection().execute(query, params)) as T;
  const queue = () => api.app.get<Queue>(getQueueToken('agent-runs'));

  it("enqueues a message's run at once and clears its outbox row without the relay", async () => {
    const projectId = await createProject(api.http, user, 'relayed-at-once');
    const sid = await createSession(api.http, user, projectId);
    const runs: { id: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const other = await createSession(api.http, user, projectId);
      runs.push((await sendMessage(api.http, user, projectId, other, { content: `m${i}` })).run);
    }
    runs.push((await sendMessage(api.http, user, projectId, sid, { content: 'last' })).run);
    // No relay ticks here (and no worker): the POSTs enqueued the jobs and cleared the rows.
    for (const run of runs) expect(await queue().getJob(`${run.id}.1`)).toBeDefined();
    await waitFor('the batched clean-up to clear the outbox rows', async () => {
      const [{ n }] = await sql<{ n: number }[]>(
        `select count(*)::int as n from run_outbox where run_id in (${runs.map(() => '?').join(', ')})`,
        runs.map((r) => r.id),
      );
      return n === 0;
    });
  });

  it('lets a failed-set (dead-lettered) run stay dead: recorded as failed, never re-queued', async () => {
    const projectId = await createProject(api.http, user, 'dead-letter');
    const sid = await createSession(api.http, user, projectId);
    const { run } = await sendMessage(api.http, user, projectId, sid, { content: 'doomed' });

    // Its job is dead-lettered, and recording that failed (as when PostgreSQL is down at that
    // moment): the run still says running, with a heartbeat gone stale.
    const killer = new Worker(
      'agent-runs',
      async () => {
        throw new UnrecoverableError('poison');
      },
      { connection: bullmqConnection(api.config, 'consumer'), prefix: queue().opts.prefix },
    );
    await waitFor('the job to be dead-lettered', async () => {
      const job = await queue().getJob(`${run.id}.1`);
      return (await job?.getState()) === 'failed';
    });
    await killer.close();
    await sql(
      `update runs set status = 'running', started_at = now(), heartbeat_at = now() - interval '1 hour' where id = ?`,
      [run.id],
    );

    const worker = await startWorker();
    const relay = worker.app.get(RunDispatchRelay);
    await relay.tick();
    expect(relay.isLeader).toBe(true);

    const done = await waitForRun(api.http, user, projectId, sid, run.id, ['failed', 'completed']);
    expect(done.status).toBe('failed');
    expect(done.error).toEqual({ code: 'INTERNAL', message: 'The run failed unexpectedly' });
    // Not re-queued: the job is still a dead letter and the run never executed.
    expect(await (await queue().getJob(`${run.id}.1`))?.getState()).toBe('failed');
    const [row] = await sql<{ executions: number }[]>('select executions from runs where id = ?', [
      run.id,
    ]);
    expect(row.executions).toBe(0);
  });

  it('re-queues a run whose job Redis lost, and it completes', async () => {
    const projectId = await createProject(api.http, user, 'lost-job');
    const sid = await createSession(api.http, user, projectId);
    // No worker may take it before Redis "loses" it.
    for (const w of workers.splice(0)) await w.close();
    const { run } = await sendMessage(api.http, user, projectId, sid, { content: 'find me' });
    await queue().remove(`${run.id}.1`);
    await sql(`update runs set created_at = now() - interval '2 minutes' where id = ?`, [run.id]);

    const worker = await startWorker();
    await worker.app.get(RunDispatchRelay).tick();
    const done = await waitForRun(api.http, user, projectId, sid, run.id);
    expect(done.status).toBe('completed');
  });

  it('elects exactly one relay, and another takes over when the leader loses its connection', async () => {
    for (const w of workers.splice(0)) await w.close();
    const [a, b] = [await startWorker(), await startWorker()];
    const relays = [a, b].map((w) => w.app.get(RunDispatchRelay));
    for (const relay of relays) await relay.tick();
    for (const relay of relays) await relay.tick();
    expect(relays.filter((r) => r.isLeader)).toHaveLength(1);
    const leader = relays.find((r) => r.isLeader) as RunDispatchRelay;
    const follower = relays.find((r) => !r.isLeader) as RunDispatchRelay;

    // The leader's PostgreSQL session dies (network cut, backend killed): its lock is gone.
    const admin = new Client({ connectionString: api.config.databaseUrl });
    await admin.connect();
    try {
      const { rowCount } = await admin.query(
        `select pg_terminate_backend(l.pid) from pg_locks l join pg_database d on d.oid = l.database
         where l.locktype = 'advisory' and l.granted and l.objid = 7324002 and d.datname = current_database()`,
      );
      expect(rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    await follower.tick();
    await leader.tick();
    expect(follower.isLeader).toBe(true);
    expect(leader.isLeader).toBe(false);
    // And it stays that way: the old leader does not take the lock back.
    await leader.tick();
    await follower.tick();
    expect([leader.isLeader, follower.isLeader]).toEqual([false, true]);
  });
});
