import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tool, ToolContext, ToolResult } from '../tool';

/**
 * Tools for the test suites only (TEST_TOOLS=true, refused in production): they drive the run
 * engine through multi-step loops, parking and effects that must never happen twice, before the
 * workspace tools exist. Each does one observable thing.
 */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

const delayOf = (args: Record<string, unknown>) =>
  typeof args.delay_ms === 'number' ? Math.min(Math.max(0, args.delay_ms), 60_000) : 0;

const textArg = { type: 'string', maxLength: 1000 };
const delayArg = { type: 'integer', minimum: 0, maximum: 60000 };

export function testTools(effectsDir: string): Tool[] {
  return [
    {
      name: 'test_read',
      description: 'Test tool: echoes its text after delay_ms (a read: may run again)',
      parameters: {
        type: 'object',
        properties: { text: textArg, delay_ms: delayArg },
        additionalProperties: false,
      },
      effect: 'read',
      async execute(args, context): Promise<ToolResult> {
        await sleep(delayOf(args), context.signal);
        return { kind: 'ok', output: { echo: String(args.text ?? '') } };
      },
    },
    {
      name: 'test_write',
      description:
        'Test tool: appends "<run> <step> <key>" to effects.log after delay_ms (a write: never repeated)',
      parameters: {
        type: 'object',
        properties: { key: textArg, delay_ms: delayArg },
        required: ['key'],
        additionalProperties: false,
      },
      effect: 'write',
      async execute(args, context: ToolContext): Promise<ToolResult> {
        await sleep(delayOf(args), context.signal);
        await mkdir(effectsDir, { recursive: true });
        await appendFile(
          join(effectsDir, 'effects.log'),
          `${context.runId} ${context.stepSeq} ${String(args.key)}\n`,
        );
        return { kind: 'ok', output: { written: String(args.key) } };
      },
    },
    {
      name: 'test_park',
      description:
        'Test tool: parks the run (awaiting_approval, or awaiting_children) until it is resolved',
      parameters: {
        type: 'object',
        properties: {
          reason: textArg,
          status: { type: 'string', enum: ['awaiting_approval', 'awaiting_children'] },
        },
        additionalProperties: false,
      },
      effect: 'none',
      execute(args): Promise<ToolResult> {
        return Promise.resolve({
          kind: 'park',
          status: args.status === 'awaiting_children' ? 'awaiting_children' : 'awaiting_approval',
          reason: String(args.reason ?? 'test_park'),
        });
      },
    },
    {
      name: 'test_fail',
      description: 'Test tool: always fails with the given code',
      parameters: { type: 'object', properties: { code: textArg }, additionalProperties: false },
      effect: 'read',
      execute(args): Promise<ToolResult> {
        return Promise.resolve({
          kind: 'error',
          code: String(args.code ?? 'TEST_FAILURE'),
          message: 'test_fail always fails',
        });
      },
    },
  ];
}
