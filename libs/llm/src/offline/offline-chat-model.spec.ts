import {
  AIMessage,
  AIMessageChunk,
  HumanMessage,
  SystemMessage,
  ToolMessage,
} from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import {
  AGENTS_MARKER,
  HANDOVER_MARKER,
  MEMORY_MARKER,
  OFFLINE_PREFIX,
  PLANNER_MARKER,
  REPAIR_MARKER,
} from './offline-rules';
import { OfflineChatModel } from './offline-chat-model';

const readFile = tool(async ({ path }: { path: string }) => `contents of ${path}`, {
  name: 'read_file',
  description: 'Read a file',
  schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
});

async function collect(
  model: OfflineChatModel,
  messages: Parameters<OfflineChatModel['stream']>[0],
  signal?: AbortSignal,
) {
  const chunks: AIMessageChunk[] = [];
  for await (const chunk of await model.stream(messages, { signal })) chunks.push(chunk);
  return chunks;
}

describe('OfflineChatModel', () => {
  const model = new OfflineChatModel();

  it('answers deterministically and says it is the offline model', async () => {
    const messages = [
      new SystemMessage('You are helpful.'),
      new HumanMessage('How do I rotate logs?'),
    ];
    const a = await model.invoke(messages);
    const b = await model.invoke(messages);
    expect(a.content).toBe(b.content);
    expect(String(a.content).startsWith(OFFLINE_PREFIX)).toBe(true);
    expect(a.content).toContain('How do I rotate logs?');
    const other = await model.invoke([
      new SystemMessage('You are helpful.'),
      new HumanMessage('Something else'),
    ]);
    expect(other.content).not.toBe(a.content);
  });

  it('streams token by token, the chunks adding up to the invoke() answer, with usage', async () => {
    const messages = [new HumanMessage('Explain keyset pagination')];
    const chunks = await collect(model, messages);
    expect(chunks.filter((c) => c.content !== '').length).toBeGreaterThan(5);
    const text = chunks.map((c) => c.content).join('');
    expect(text).toBe((await model.invoke(messages)).content);
    const usage = chunks.at(-1)?.usage_metadata;
    expect(usage?.input_tokens).toBeGreaterThan(0);
    expect(usage?.output_tokens).toBe(chunks.filter((c) => c.content !== '').length);
  });

  it('quotes recalled memory from the system prompt', async () => {
    const reply = await model.invoke([
      new SystemMessage(
        `You are helpful.\n${MEMORY_MARKER}\n- The deploy target is the staging cluster.`,
      ),
      new HumanMessage('Where do we deploy?'),
    ]);
    expect(reply.content).toContain('From memory: The deploy target is the staging cluster.');
  });

  it('calls a bound tool when the user gives a /tool directive', async () => {
    const bound = model.bindTools([readFile]);
    const reply = (await bound.invoke([
      new HumanMessage('please\n/tool read_file {"path":"src/app.ts"}'),
    ])) as AIMessage;
    expect(reply.tool_calls).toEqual([
      expect.objectContaining({
        name: 'read_file',
        args: { path: 'src/app.ts' },
        id: expect.stringMatching(/^call_/),
      }),
    ]);
  });

  it('does not call a tool that is not bound', async () => {
    const reply = (await model.invoke([
      new HumanMessage('/tool read_file {"path":"a"}'),
    ])) as AIMessage;
    expect(reply.tool_calls ?? []).toEqual([]);
    expect(reply.content).toContain('not available');
  });

  it('summarises a tool result', async () => {
    const bound = model.bindTools([readFile]);
    const reply = await bound.invoke([
      new HumanMessage('/tool read_file {"path":"a.txt"}'),
      new AIMessage({
        content: '',
        tool_calls: [{ id: 'call_1', name: 'read_file', args: { path: 'a.txt' } }],
      }),
      new ToolMessage({ tool_call_id: 'call_1', name: 'read_file', content: 'hello world' }),
    ]);
    expect(reply.content).toContain('Tool read_file returned: hello world');
  });

  it('plays a script of tool turns, one line per turn, several calls on one line at once', async () => {
    const bound = model.bindTools([readFile]);
    const script = new HumanMessage(
      'do it\n/tool read_file {"path":"a"}\n/tool read_file {"path":"b"} && read_file {"path":"c"}',
    );
    const first = (await bound.invoke([script])) as AIMessage;
    expect(first.tool_calls?.map((c) => c.args)).toEqual([{ path: 'a' }]);
    const afterFirst = [
      script,
      first,
      new ToolMessage({ tool_call_id: first.tool_calls![0].id!, name: 'read_file', content: 'A' }),
    ];
    const second = (await bound.invoke(afterFirst)) as AIMessage;
    expect(second.tool_calls?.map((c) => c.args)).toEqual([{ path: 'b' }, { path: 'c' }]);
    const final = await bound.invoke([
      ...afterFirst,
      second,
      ...second.tool_calls!.map(
        (c, i) => new ToolMessage({ tool_call_id: c.id!, name: 'read_file', content: 'BC'[i] }),
      ),
    ]);
    expect((final as AIMessage).tool_calls ?? []).toEqual([]);
    expect(final.content).toContain('Tool read_file returned: A');
    expect(final.content).toContain('Tool read_file returned: C');
  });

  it('answers the planner with a valid DAG over the listed agents', async () => {
    const reply = await model.invoke([
      new SystemMessage(
        `${PLANNER_MARKER}\n${AGENTS_MARKER} CodeAssistant, DataAnalyst, DocumentWriter\nReturn JSON.`,
      ),
      new HumanMessage(
        'Fix the login bug and analyze the error metrics, then write the release notes document',
      ),
    ]);
    const plan = JSON.parse(String(reply.content)) as {
      tasks: { id: string; agent: string; depends_on: string[] }[];
    };
    expect(plan.tasks.map((t) => t.agent)).toEqual([
      'CodeAssistant',
      'DataAnalyst',
      'DocumentWriter',
    ]);
    expect(plan.tasks[2].depends_on).toEqual(['t1', 't2']);
    const ids = new Set(plan.tasks.map((t) => t.id));
    for (const t of plan.tasks) for (const d of t.depends_on) expect(ids.has(d)).toBe(true);
  });

  it('plays /reply lines of the request only, in order, a repair request counting as a turn', async () => {
    const task = new HumanMessage('do it\n/reply first\n/reply second');
    expect((await model.invoke([new SystemMessage('s'), task])).content).toBe('first');
    const repair = new HumanMessage(`${REPAIR_MARKER} try again`);
    expect(
      (await model.invoke([new SystemMessage('s'), task, new AIMessage('first'), repair])).content,
    ).toBe('second');
    // An earlier message of the conversation does not script a later one.
    const later = await model.invoke([
      new SystemMessage('s'),
      task,
      new AIMessage('first'),
      new HumanMessage('something else'),
    ]);
    expect(later.content).toContain('something else');
  });

  it('reads a hand-over script only from a line that opens with the marker', async () => {
    const handedOver = `Agent prompt.\n/switch Other loop\n\n${HANDOVER_MARKER} A handed this over`;
    const bound = model.bindTools([
      tool(async () => 'ok', {
        name: 'switch_agent',
        description: 'switch',
        schema: { type: 'object', properties: { agent: { type: 'string' } } },
      }),
    ]);
    const switched = (await bound.invoke([new SystemMessage(handedOver), new HumanMessage('hi')]))
      .tool_calls;
    expect(switched?.[0]).toMatchObject({ name: 'switch_agent', args: { agent: 'Other' } });
    // The marker inside recalled memory (a "- " line) is not a hand-over.
    const memory = `Agent prompt.\n/switch Other loop\n\n${MEMORY_MARKER}\n- ${HANDOVER_MARKER} quoted`;
    const plain = await bound.invoke([new SystemMessage(memory), new HumanMessage('hi')]);
    expect(plain.tool_calls ?? []).toHaveLength(0);
  });

  it('waits OFFLINE_LLM_TOKEN_DELAY_MS per token and stops when aborted', async () => {
    const slow = new OfflineChatModel({ tokenDelayMs: 20 });
    const controller = new AbortController();
    const received: string[] = [];
    const run = (async () => {
      for await (const chunk of await slow.stream(
        [new HumanMessage('a fairly long question with many words in it')],
        { signal: controller.signal },
      )) {
        received.push(String(chunk.content));
        if (received.length === 2) controller.abort();
      }
    })();
    await expect(run).rejects.toThrow(/abort/i);
    expect(received.length).toBe(2);
  });
});
