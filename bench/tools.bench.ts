/**
 * `npm run bench:tools` — what the workspace tool path adds to reading a file, side by side with
 * a bare `fs.readFile` of the same file, in one process, alternating rounds.
 *
 *   bare:  fs.readFile(<absolute path>) of a 100 KiB text file.
 *   tool:  what a read_file call costs in a worker besides the journal: the arguments checked
 *          against the tool's JSON Schema, the path resolved (lexical checks, realpath
 *          containment) for the policy, the policy decision on the resolved path, the tool's
 *          execute (resolve again, descriptor-relative O_NOFOLLOW walk, open, fstat, read,
 *          sha256, line split, the output object) and the JSON the model reads, capped at
 *          TOOL_OUTPUT_MAX_BYTES with its marker.
 * Goal: tool p50 <= bare p50 + 2 ms. The journal's share of a step (two PostgreSQL transactions)
 * is measured end to end by `BENCH_C_TOOL=read_file BENCH_PARTS=C npm run bench:runs`.
 * Knobs: BENCH_TOOL_CALLS (2000 per row and round), BENCH_TOOL_ROUNDS (3), BENCH_TOOL_WARMUP (300).
 */
import 'reflect-metadata';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Counter, Histogram } from 'prom-client';
import { findRoleTemplate } from '@codelab/agents';
import { loadConfig } from '@codelab/platform';
import { decideToolCall, fileTools, ToolRegistry, type ToolContext } from '@codelab/tools';
import { WorkspaceFiles } from '@codelab/workspace';
import { percentile, printTable } from './support';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const CALLS = num('BENCH_TOOL_CALLS', 2000);
const ROUNDS = num('BENCH_TOOL_ROUNDS', 3);
const WARMUP = num('BENCH_TOOL_WARMUP', 300);
const FILE = 'src/file-100k.txt';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'codelab-bench-tools-'));
  try {
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(48),
      WORKSPACES_DIR: dir,
      LOG_LEVEL: 'silent',
    });
    const projectId = '00000000-0000-4000-8000-000000000001';
    mkdirSync(join(dir, projectId, 'src'), { recursive: true });
    let text = '';
    for (let i = 0; Buffer.byteLength(text) < 100 * 1024; i++)
      text += `${String(i).padStart(6, '0')} ${'lorem ipsum '.repeat(7)}\n`;
    const absolute = join(dir, projectId, FILE);
    writeFileSync(absolute, text.slice(0, 100 * 1024));

    // Reads take no lock: the EntityManager is never used on this path.
    const files = new WorkspaceFiles(
      config,
      undefined as unknown as EntityManager,
      new Counter({ name: 'bench_writes', help: 'x', labelNames: ['op'], registers: [] }),
      new Histogram({ name: 'bench_sizes', help: 'x', registers: [] }),
    );
    const registry = new ToolRegistry();
    for (const tool of fileTools(files)) registry.register(tool);
    const tool = registry.get('read_file')!;
    const coder = findRoleTemplate('coder')!;
    const policy = { tools: coder.tools, writePaths: coder.writePaths, approvalTools: [] };
    const project = { commandsEnabled: false, commandsNeedApproval: true, deniedPaths: [] };
    const context: ToolContext = {
      runId: 'r',
      sessionId: 's',
      projectId,
      ownerId: 'o',
      agentId: 'a',
      stepSeq: 2,
      signal: new AbortController().signal,
      deniedPaths: [],
      publish: () => undefined,
    };
    const cap = config.workspace.toolOutputBytes;

    const bare = async () => (await readFile(absolute)).length;
    const viaTool = async () => {
      const args = { path: FILE, max_bytes: 262144 };
      if (registry.validate(tool, args)) throw new Error('invalid arguments');
      const targets = await tool.targets!(args, context);
      if (!Array.isArray(targets)) throw new Error('unresolved');
      const decision = decideToolCall(
        policy,
        { tool: 'read_file', args },
        { resolvedPaths: targets, project },
      );
      if (decision.outcome !== 'allow') throw new Error(decision.outcome);
      const result = await tool.execute(args, context);
      if (result.kind !== 'ok') throw new Error(JSON.stringify(result));
      const json = JSON.stringify({ output: result.output });
      const content =
        Buffer.byteLength(json) <= cap
          ? json
          : `${new TextDecoder().decode(Buffer.from(json).subarray(0, cap))}\n[... truncated]`;
      return content.length;
    };

    const rows = { bare: [] as number[], tool: [] as number[] };
    const time = async (fn: () => Promise<number>, into?: number[]) => {
      const t0 = performance.now();
      await fn();
      into?.push(performance.now() - t0);
    };
    for (let i = 0; i < WARMUP; i++) {
      await time(bare);
      await time(viaTool);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < CALLS; i++) await time(bare, rows.bare);
      for (let i = 0; i < CALLS; i++) await time(viaTool, rows.tool);
    }
    const cells = (v: number[]) =>
      [50, 95, 99].map((p) => `${percentile(v, p).toFixed(3)} ms`).concat(String(v.length));
    process.stdout.write(
      `\nread_file of a 100 KiB file (${ROUNDS} alternating rounds x ${CALLS} calls per row, after ${WARMUP} warm-up each)\n`,
    );
    printTable(
      ['', 'p50', 'p95', 'p99', 'n'],
      [
        ['bare: fs.readFile', ...cells(rows.bare)],
        ['tool path: schema + resolve + policy + execute + capped JSON', ...cells(rows.tool)],
      ],
    );
    const added = percentile(rows.tool, 50) - percentile(rows.bare, 50);
    process.stdout.write(
      `goal tool p50 <= bare p50 + 2 ms: +${added.toFixed(3)} ms ${added <= 2 ? 'MET' : 'MISSED'}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
