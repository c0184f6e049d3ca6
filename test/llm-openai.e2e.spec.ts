import { HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type AppConfig, loadConfig } from '@codelab/platform';
import { ChatModelFactory, LlmError, ModelCaller } from '@codelab/llm';
import { OpenAiStub } from './support/openai-stub';
import { waitFor } from './support/child-process';

/** The real ChatOpenAI client path against a local OpenAI-compatible stub, with its faults. */
describe('model layer: OpenAI-compatible provider through ModelCaller (stub server)', () => {
  const stub = new OpenAiStub();
  let registry: Registry;

  beforeAll(async () => {
    await stub.start();
  });
  afterAll(async () => {
    await stub.stop();
  });

  function setUp(env: Record<string, string> = {}) {
    const config: AppConfig = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(40),
      LLM_PROVIDER: 'openai',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: stub.baseUrl,
      LLM_MAX_ATTEMPTS: '3',
      LLM_TIMEOUT_MS: '400',
      LLM_RETRY_BASE_DELAY_MS: '10',
      LLM_RETRY_MAX_DELAY_MS: '5000',
      LLM_BREAKER_VOLUME_THRESHOLD: '100',
      ...env,
    });
    registry = new Registry();
    const m = { registers: [registry] };
    const caller = new ModelCaller(
      config,
      new Histogram({ name: 'd', help: 'd', labelNames: ['provider', 'outcome'], ...m }),
      new Counter({ name: 't', help: 't', labelNames: ['provider', 'direction'], ...m }),
      new Counter({ name: 'e', help: 'e', labelNames: ['provider', 'kind'], ...m }),
      new Counter({ name: 'a', help: 'a', labelNames: ['provider'], ...m }),
      new Gauge({ name: 'c', help: 'c', labelNames: ['provider'], ...m }),
    );
    const delays: number[] = [];
    caller.setSleep(async (ms) => {
      delays.push(ms);
    });
    const { model, target } = new ChatModelFactory(config).forAgent({
      model: 'stub-model',
      temperature: 0,
    });
    return { caller, model, target, delays };
  }

  const metric = async (name: string, labels: Record<string, string>) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
      ?.value;
  };

  const expectLlmError = async (promise: Promise<unknown>, kind: string) => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LlmError);
    expect((error as LlmError).llmKind).toBe(kind);
    return error as LlmError;
  };

  it('streams tokens and reports usage', async () => {
    const { caller, model, target } = setUp();
    stub.respondWith({
      kind: 'stream',
      tokens: ['Hel', 'lo', ' world'],
      usage: { prompt_tokens: 11, completion_tokens: 3 },
    });
    const tokens: string[] = [];
    const result = await caller.call(model, [new HumanMessage('hi')], target, {
      onToken: (t) => tokens.push(t),
    });
    expect(tokens).toEqual(['Hel', 'lo', ' world']);
    expect(result.message.content).toBe('Hello world');
    expect(result.attempts).toBe(1);
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0].body).toMatchObject({ model: 'stub-model', stream: true });
    expect(await metric('t', { direction: 'input' })).toBe(11);
    expect(await metric('t', { direction: 'output' })).toBe(3);
  });

  it('parses streamed tool calls', async () => {
    const { caller, model, target } = setUp();
    stub.respondWith({ kind: 'tool_call', name: 'read_file', args: { path: 'src/a.ts' } });
    const readFile = tool(async () => 'x', {
      name: 'read_file',
      description: 'Read a file',
      schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
    });
    const result = await caller.call(
      model.bindTools([readFile]),
      [new HumanMessage('read it')],
      target,
    );
    expect(result.message.tool_calls).toEqual([
      expect.objectContaining({ name: 'read_file', args: { path: 'src/a.ts' } }),
    ]);
    expect((stub.requests[0].body.tools as unknown[]).length).toBe(1);
  });

  it('retries a 429, honouring Retry-After, then succeeds', async () => {
    const { caller, model, target, delays } = setUp();
    stub.respondWith(
      { kind: 'status', status: 429, retryAfter: '2' },
      { kind: 'stream', tokens: ['fine'] },
    );
    const result = await caller.call(model, [new HumanMessage('hi')], target);
    expect(result.message.content).toBe('fine');
    expect(result.attempts).toBe(2);
    expect(stub.requests).toHaveLength(2);
    expect(delays).toEqual([2000]);
  });

  it('retries 5xx with exponential backoff and gives up at the total attempt cap', async () => {
    const { caller, model, target, delays } = setUp();
    stub.respondWith({ kind: 'status', status: 500 });
    const error = await expectLlmError(
      caller.call(model, [new HumanMessage('hi')], target),
      'server_error',
    );
    expect(error.attempts).toBe(3);
    expect(error.status).toBe(500);
    // Exactly the cap reached the provider: no hidden client-side retries on top.
    expect(stub.requests).toHaveLength(3);
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[1]).toBeGreaterThanOrEqual(10);
    expect(delays[1]).toBeLessThanOrEqual(20);
    expect(await metric('e', { kind: 'server_error' })).toBe(3);
  });

  it('never retries 400 or 401', async () => {
    const { caller, model, target } = setUp();
    stub.respondWith({ kind: 'status', status: 400 });
    const bad = await expectLlmError(
      caller.call(model, [new HumanMessage('hi')], target),
      'bad_request',
    );
    expect(bad.code).toBe('LLM_BAD_REQUEST');
    expect(stub.requests).toHaveLength(1);

    stub.respondWith({ kind: 'status', status: 401 });
    await expectLlmError(caller.call(model, [new HumanMessage('hi')], target), 'auth');
    expect(stub.requests).toHaveLength(1);
  });

  it('times out a request that hangs, on every attempt', async () => {
    const { caller, model, target } = setUp({ LLM_MAX_ATTEMPTS: '2', LLM_TIMEOUT_MS: '300' });
    stub.respondWith({ kind: 'hang' });
    const error = await expectLlmError(
      caller.call(model, [new HumanMessage('hi')], target),
      'timeout',
    );
    expect(error.attempts).toBe(2);
    expect(stub.requests).toHaveLength(2);
  });

  it('does not retry once tokens were streamed (a partial answer cannot be replayed)', async () => {
    const { caller, model, target } = setUp({ LLM_TIMEOUT_MS: '300' });
    stub.respondWith({ kind: 'hang_after_first_token', token: 'Par' });
    const tokens: string[] = [];
    const error = await expectLlmError(
      caller.call(model, [new HumanMessage('hi')], target, { onToken: (t) => tokens.push(t) }),
      'timeout',
    );
    expect(tokens).toEqual(['Par']);
    expect(error.attempts).toBe(1);
    expect(stub.requests).toHaveLength(1);
  });

  it('surfaces a malformed stream as a typed protocol error', async () => {
    const { caller, model, target } = setUp({ LLM_MAX_ATTEMPTS: '2' });
    stub.respondWith({ kind: 'malformed' });
    const error = await expectLlmError(
      caller.call(model, [new HumanMessage('hi')], target),
      'protocol',
    );
    expect(error.attempts).toBe(2);
  });

  it('stops at once when the caller aborts', async () => {
    const { caller, model, target } = setUp({ LLM_TIMEOUT_MS: '5000' });
    stub.respondWith({ kind: 'hang' });
    const controller = new AbortController();
    const call = caller.call(model, [new HumanMessage('hi')], target, {
      signal: controller.signal,
    });
    await waitFor('the request to reach the stub', async () => stub.requests.length === 1, 5_000);
    controller.abort();
    const error = await expectLlmError(call, 'aborted');
    expect(error.retryable).toBe(false);
    expect(stub.requests).toHaveLength(1);
  });

  it('opens the circuit after repeated failures, fails fast, then half-opens and closes', async () => {
    const { caller, model, target } = setUp({
      LLM_MAX_ATTEMPTS: '1',
      LLM_BREAKER_VOLUME_THRESHOLD: '3',
      LLM_BREAKER_ERROR_PERCENT: '50',
      LLM_BREAKER_RESET_MS: '300',
    });
    stub.respondWith({ kind: 'status', status: 503 });
    for (let i = 0; i < 3; i++)
      await expectLlmError(caller.call(model, [new HumanMessage('hi')], target), 'server_error');
    expect(caller.breakerState(target.endpoint)).toBe('open');
    expect(await metric('c', { provider: 'openai' })).toBe(2);

    // Open: rejected without reaching the provider.
    await expectLlmError(caller.call(model, [new HumanMessage('hi')], target), 'circuit_open');
    expect(stub.requests).toHaveLength(3);

    await waitFor(
      'the breaker to half-open',
      async () => caller.breakerState(target.endpoint) === 'half_open',
      5_000,
    );
    stub.respondWith({ kind: 'stream', tokens: ['back'] });
    const result = await caller.call(model, [new HumanMessage('hi')], target);
    expect(result.message.content).toBe('back');
    expect(caller.breakerState(target.endpoint)).toBe('closed');
    caller.onApplicationShutdown();
  });

  it('does not count bad requests against the provider', async () => {
    const { caller, model, target } = setUp({
      LLM_MAX_ATTEMPTS: '1',
      LLM_BREAKER_VOLUME_THRESHOLD: '2',
    });
    stub.respondWith({ kind: 'status', status: 400 });
    for (let i = 0; i < 4; i++)
      await expectLlmError(caller.call(model, [new HumanMessage('hi')], target), 'bad_request');
    expect(caller.breakerState(target.endpoint)).toBe('closed');
    caller.onApplicationShutdown();
  });
});
