import { type Http, type TestUser } from './test-app';
import { waitFor } from './child-process';

export interface RunView {
  id: string;
  status: string;
  agent_id: string;
  agent_name: string;
  error: { code: string; message: string } | null;
  usage: { input_tokens: number; output_tokens: number } | null;
  started_at: string | null;
  finished_at: string | null;
  created_at: string;
  output_message_id: string | null;
}

export async function createProject(http: Http, user: TestUser, name = 'Project'): Promise<string> {
  return (await http.post('/v1/my/projects').set(user.auth).send({ name }).expect(201)).body.id;
}

export async function createSession(
  http: Http,
  user: TestUser,
  projectId: string,
  body: Record<string, unknown> = {},
): Promise<string> {
  return (
    await http.post(`/v1/my/projects/${projectId}/sessions`).set(user.auth).send(body).expect(201)
  ).body.id;
}

export async function sendMessage(
  http: Http,
  user: TestUser,
  projectId: string,
  sessionId: string,
  body: Record<string, unknown>,
): Promise<{ message: { id: string; seq: number }; run: RunView }> {
  return (
    await http
      .post(`/v1/my/projects/${projectId}/sessions/${sessionId}/messages`)
      .set(user.auth)
      .send(body)
      .expect(202)
  ).body;
}

/** Polls the run until its status is one of `statuses` (deadline, no fixed sleeps). */
export async function waitForRun(
  http: Http,
  user: TestUser,
  projectId: string,
  sessionId: string,
  runId: string,
  statuses: string[] = ['completed', 'failed', 'cancelled'],
  timeoutMs = 20_000,
): Promise<RunView> {
  let last: RunView | undefined;
  await waitFor(
    `run ${runId} to reach ${statuses.join('/')}`,
    async () => {
      const res = await http
        .get(`/v1/my/projects/${projectId}/sessions/${sessionId}/runs/${runId}`)
        .set(user.auth);
      last = res.body as RunView;
      return statuses.includes(last.status);
    },
    timeoutMs,
  );
  return last as RunView;
}
