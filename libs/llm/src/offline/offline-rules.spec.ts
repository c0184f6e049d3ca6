import { AGENTS_MARKER, parseReplies, parseToolScript, routeFor } from './offline-rules';

describe('offline directives for hand-offs', () => {
  it('turns /switch into a switch_agent call with reason and note', () => {
    expect(parseToolScript('hi\n/switch DocumentWriter docs needed | write the README')).toEqual([
      [
        {
          name: 'switch_agent',
          args: { agent: 'DocumentWriter', reason: 'docs needed', note: 'write the README' },
        },
      ],
    ]);
    expect(parseToolScript('/switch DataAnalyst')).toEqual([
      [{ name: 'switch_agent', args: { agent: 'DataAnalyst', reason: 'requested' } }],
    ]);
  });

  it('turns consecutive /delegate lines into one turn of parallel delegate calls', () => {
    const script = parseToolScript(
      [
        '/delegate DataAnalyst {"instruction": "count", "returns": {"type": "object"}}',
        '/delegate DocumentWriter write it up',
        '/tool read_file {"path": "a"}',
        '/delegate DataAnalyst again',
      ].join('\n'),
    );
    expect(script).toEqual([
      [
        {
          name: 'delegate',
          args: { agent: 'DataAnalyst', instruction: 'count', returns: { type: 'object' } },
        },
        { name: 'delegate', args: { agent: 'DocumentWriter', instruction: 'write it up' } },
      ],
      [{ name: 'read_file', args: { path: 'a' } }],
      [{ name: 'delegate', args: { agent: 'DataAnalyst', instruction: 'again' } }],
    ]);
  });

  it('reads /reply lines in order, with \\n as a newline', () => {
    expect(parseReplies('task\n/reply {"total": 1}\n/reply two\\nlines')).toEqual([
      '{"total": 1}',
      'two\nlines',
    ]);
    expect(parseReplies('no replies here')).toEqual([]);
  });

  it('routes /route requests to the listed agent whose name or role fits, never to itself', () => {
    const system = `You are "CodeAssistant" (coder).\n\n${AGENTS_MARKER} DataAnalyst (analyst), DocumentWriter (writer)`;
    expect(routeFor('/route please write the docs', system)).toBe('DocumentWriter');
    expect(routeFor('/route analyze this csv', system)).toBe('DataAnalyst');
    // Fits the agent itself, no keyword at all, or no /route: no switch.
    expect(routeFor('/route fix this bug', system)).toBeNull();
    expect(routeFor('/route hello there', system)).toBeNull();
    expect(routeFor('please write the docs', system)).toBeNull();
  });
});
