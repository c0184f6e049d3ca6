import { createHash } from 'node:crypto';

/**
 * The offline model's documented behaviour, so tests and users can drive it on purpose:
 *
 * 1. Tool directives: each line `/tool <name> <json args>` of the user's message is one model
 *    turn that calls that tool (a line `/tool a {..} && b {..}` calls several at once), in order:
 *    the n-th tool-calling turn after the user's message plays the n-th line. A tool that is not
 *    bound (`bindTools`) is not called; the model says it is unavailable.
 * 2. When every line has been played (the last message is a tool result) it answers with a
 *    summary of the results.
 * 3. Planning: when the system prompt contains PLANNER_MARKER it answers with a JSON plan (a
 *    DAG of tasks) over the agents listed after AGENTS_MARKER; see planFor().
 * 4. Otherwise: a deterministic reply derived from the request, quoting the first line of any
 *    "Relevant memory:" section of the system prompt. Every reply says it is the offline model.
 */
export const OFFLINE_PREFIX = '[offline model]';
export const PLANNER_MARKER = 'You are the CodeLab orchestrator planner.';
export const AGENTS_MARKER = 'Available agents:';
export const MEMORY_MARKER = 'Relevant memory:';

export interface ToolDirective {
  name: string;
  args: Record<string, unknown>;
}

export function parseToolDirective(text: string): ToolDirective | null {
  return parseToolScript(text)[0]?.[0] ?? null;
}

const CALL = /^\s*([a-z_][a-z0-9_]*)\s*(\{.*\})?\s*$/i;

/** The user's message as a script: one entry per `/tool` line, each with the calls of that turn. */
export function parseToolScript(text: string): ToolDirective[][] {
  const turns: ToolDirective[][] = [];
  for (const line of text.split('\n')) {
    const body = /^\/tool\s+(.*)$/i.exec(line.trim())?.[1];
    if (!body) continue;
    const calls: ToolDirective[] = [];
    for (const part of body.split(/\s+&&\s+/)) {
      const match = CALL.exec(part);
      if (!match) break;
      let args: Record<string, unknown> = {};
      if (match[2]) {
        try {
          const parsed: unknown = JSON.parse(match[2]);
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) break;
          args = parsed as Record<string, unknown>;
        } catch {
          break;
        }
      }
      calls.push({ name: match[1], args });
    }
    if (calls.length) turns.push(calls);
  }
  return turns;
}

export function stableId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

const OPENINGS = ['Understood.', 'Here is my take.', 'Noted.', 'Let me answer that.', 'Sure.'];

export function replyFor(request: string, systemPrompt: string): string {
  const digest = stableId(request, systemPrompt);
  const opening = OPENINGS[parseInt(digest.slice(0, 2), 16) % OPENINGS.length];
  const topic = request.replace(/\s+/g, ' ').trim().slice(0, 160);
  const memoryLine = memoryHint(systemPrompt);
  const parts = [
    `${OFFLINE_PREFIX} ${opening}`,
    `You asked: "${topic}".`,
    memoryLine ? `From memory: ${memoryLine}` : 'I have no stored memory about this.',
    `(deterministic reply ${digest.slice(0, 8)}; configure OPENAI_API_KEY for a real model)`,
  ];
  return parts.join(' ');
}

function memoryHint(systemPrompt: string): string | null {
  const at = systemPrompt.indexOf(MEMORY_MARKER);
  if (at < 0) return null;
  const line = systemPrompt
    .slice(at + MEMORY_MARKER.length)
    .split('\n')
    .map((l) => l.replace(/^[-*\s]+/, '').trim())
    .find((l) => l.length > 0);
  return line ? line.slice(0, 200) : null;
}

export interface PlannedTask {
  id: string;
  agent: string;
  instruction: string;
  depends_on: string[];
}

const ROLE_HINTS: { pattern: RegExp; names: RegExp }[] = [
  { pattern: /\b(doc|docs|document|readme|write up|changelog|markdown)\b/i, names: /writer|doc/i },
  { pattern: /\b(data|csv|analy[sz]e|statistics|numbers|metrics|report)\b/i, names: /analy|data/i },
  {
    pattern: /\b(code|implement|fix|refactor|bug|test|function|api|build)\b/i,
    names: /code|coder|assist/i,
  },
];

/**
 * Splits a request into at most 4 tasks on "then" (sequential) and "and"/";" (parallel), and
 * assigns each to the listed agent whose name fits its wording (else the first agent). Always a
 * valid DAG over existing agents.
 */
export function planFor(request: string, systemPrompt: string): { tasks: PlannedTask[] } {
  const agents = listedAgents(systemPrompt);
  const fallback = agents[0] ?? 'CodeAssistant';
  const tasks: PlannedTask[] = [];
  const sequentialParts = request
    .split(/\bthen\b/i)
    .map((s) => s.trim())
    .filter(Boolean);
  let previousStage: string[] = [];
  for (const part of sequentialParts) {
    const stage: string[] = [];
    for (const clause of part
      .split(/\band\b|;/i)
      .map((s) => s.replace(/^[\s,.]+|[\s,.]+$/g, ''))
      .filter(Boolean)) {
      if (tasks.length >= 4) break;
      const id = `t${tasks.length + 1}`;
      const hint = ROLE_HINTS.find((h) => h.pattern.test(clause));
      const agent = (hint && agents.find((a) => hint.names.test(a))) ?? fallback;
      tasks.push({ id, agent, instruction: clause, depends_on: [...previousStage] });
      stage.push(id);
    }
    if (stage.length) previousStage = stage;
  }
  if (tasks.length === 0)
    tasks.push({
      id: 't1',
      agent: fallback,
      instruction: request.trim() || 'Answer the user',
      depends_on: [],
    });
  return { tasks };
}

function listedAgents(systemPrompt: string): string[] {
  const at = systemPrompt.indexOf(AGENTS_MARKER);
  if (at < 0) return [];
  const line = systemPrompt.slice(at + AGENTS_MARKER.length).split('\n')[0];
  return line
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
