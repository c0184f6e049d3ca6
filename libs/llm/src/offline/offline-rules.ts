import { createHash } from 'node:crypto';

/**
 * The offline model's documented behaviour, so tests and users can drive it on purpose:
 *
 * 1. Tool directives: each line `/tool <name> <json args>` of the user's message is one model
 *    turn that calls that tool (a line `/tool a {..} && b {..}` calls several at once), in order:
 *    the n-th tool-calling turn after the user's message plays the n-th line. A tool that is not
 *    bound (`bindTools`) is not called; the model says it is unavailable. Shorthands:
 *    `/switch <Agent> [reason] [| note]` calls switch_agent; `/delegate <Agent> <instruction or
 *    {"instruction": .., "returns": {schema}}>` calls delegate, and consecutive `/delegate` lines
 *    are one turn (parallel delegations); `/route <request>` switches to the listed agent whose
 *    name or role fits the request's keywords (see ROLE_HINTS), if that is not the agent itself.
 *    After a hand-over (HANDOVER_MARKER in the system prompt) the script is read from the system
 *    prompt instead (the agent's own prompt and the note it was handed), so tests can chain
 *    switches.
 * 2. When every line has been played (the last message is a tool result) it answers with a
 *    summary of the results; `/reply <text>` lines are answered verbatim instead, the k-th text
 *    answer playing the k-th line (a delegated task's result, and its repair).
 * 3. Planning: when the system prompt contains PLANNER_MARKER it answers with a JSON plan (a
 *    DAG of tasks) over the agents listed after AGENTS_MARKER; see planFor(). `/plan <json>` lines
 *    of the request are answered verbatim instead, the k-th planner call playing the k-th line
 *    (a re-plan after an invalid plan is the second call).
 * 5. Failures: a line `/fail [text]` makes the call fail as a provider's 422 would (not retried);
 *    `/fail-first <n> [text]` fails the first n attempts of a retried plan task only.
 * 4. Otherwise: a deterministic reply derived from the request, quoting the first line of any
 *    "Relevant memory:" section of the system prompt. Every reply says it is the offline model.
 */
export const OFFLINE_PREFIX = '[offline model]';
export const PLANNER_MARKER = 'You are the CodeLab orchestrator planner.';
export const AGENTS_MARKER = 'Available agents:';
export const MEMORY_MARKER = 'Relevant memory:';
export const HANDOVER_MARKER = 'Hand-over:';
export const TASK_MARKER = 'Delegated task:';
/** Starts the repair request a delegated task gets when its result did not match its schema. */
export const REPAIR_MARKER = 'Result repair:';

/** A hand-over note opens a line of the system prompt (memory lines start with "- "). */
export const isHandedOver = (systemPrompt: string) =>
  systemPrompt.split('\n').some((line) => line.startsWith(HANDOVER_MARKER));

export interface ToolDirective {
  name: string;
  args: Record<string, unknown>;
}

export function parseToolDirective(text: string): ToolDirective | null {
  return parseToolScript(text)[0]?.[0] ?? null;
}

const CALL = /^\s*([a-z_][a-z0-9_]*)\s*(\{.*\})?\s*$/i;

/** The user's message as a script: one entry per directive line, each with the calls of that turn. */
export function parseToolScript(text: string): ToolDirective[][] {
  const turns: ToolDirective[][] = [];
  let delegating = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    const delegation = /^\/delegate\s+(\S+)\s+(.+)$/i.exec(trimmed);
    if (delegation) {
      const call = {
        name: 'delegate',
        args: { agent: delegation[1], ...delegationArgs(delegation[2]) },
      };
      // Consecutive /delegate lines are one turn: the delegations run in parallel.
      if (delegating) turns.at(-1)!.push(call);
      else turns.push([call]);
      delegating = true;
      continue;
    }
    delegating = false;
    const handover = /^\/switch\s+(\S+)\s*(.*)$/i.exec(trimmed);
    if (handover) {
      const [reason, ...note] = handover[2].split('|');
      turns.push([
        {
          name: 'switch_agent',
          args: {
            agent: handover[1],
            reason: reason.trim() || 'requested',
            ...(note.length ? { note: note.join('|').trim() } : {}),
          },
        },
      ]);
      continue;
    }
    const body = /^\/tool\s+(.*)$/i.exec(trimmed)?.[1];
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

/** `{"instruction": .., "returns": ..}` as given, or plain text as the instruction. */
function delegationArgs(rest: string): Record<string, unknown> {
  if (rest.trim().startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(rest);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {
      // Not JSON: the text is the instruction.
    }
  }
  return { instruction: rest.trim() };
}

/** The `/reply <text>` lines of a message, in order (\\n in a line is a newline). */
export function parsePlans(text: string): string[] {
  return text
    .split('\n')
    .map((line) => /^\s*\/plan\s+(\{.*\})\s*$/i.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
}

/** The `/fail` directive of a message, for this attempt: the error text, or null. */
export function failureFor(text: string, systemPrompt: string): string | null {
  const match = /^\s*\/fail(?:-first\s+(\d+))?(?:\s+(.*))?$/im.exec(text);
  if (!match) return null;
  const attempt = Number(/\(Attempt (\d+)\.\)/.exec(systemPrompt)?.[1] ?? 1);
  if (match[1] !== undefined && attempt > Number(match[1])) return null;
  return match[2]?.trim() || 'scripted failure';
}

export function parseReplies(text: string): string[] {
  return text
    .split('\n')
    .map((line) => /^\s*\/reply\s(.*)$/i.exec(line)?.[1])
    .filter((r): r is string => r !== undefined)
    .map((r) => r.replace(/\\n/g, '\n'));
}

/**
 * `/route <request>`: the listed agent (AGENTS_MARKER, "Name (role)") whose name or role fits
 * the request's keywords, unless that is the agent itself (`You are "Name"`).
 */
export function routeFor(request: string, systemPrompt: string): string | null {
  const body = /^\s*\/route\s+([\s\S]*)$/i.exec(request)?.[1];
  if (!body) return null;
  const hint = ROLE_HINTS.find((h) => h.pattern.test(body));
  if (!hint) return null;
  const self = /You are "([^"]+)"/.exec(systemPrompt)?.[1];
  if (self && hint.names.test(`${self}`)) return null;
  const entries = listedAgentEntries(systemPrompt);
  return entries.find((e) => hint.names.test(`${e.name} ${e.role}`))?.name ?? null;
}

/** The first line after the hand-over marker (what the new agent was told). */
export function handoverHint(systemPrompt: string): string | null {
  const at = systemPrompt.indexOf(HANDOVER_MARKER);
  if (at < 0) return null;
  return systemPrompt
    .slice(at + HANDOVER_MARKER.length)
    .split('\n')[0]
    .trim()
    .slice(0, 300);
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
  return listedAgentEntries(systemPrompt).map((e) => e.name);
}

/** "Available agents: A (role), B" -> [{name: A, role}, {name: B, role: ''}]. */
function listedAgentEntries(systemPrompt: string): { name: string; role: string }[] {
  const at = systemPrompt.indexOf(AGENTS_MARKER);
  if (at < 0) return [];
  const line = systemPrompt.slice(at + AGENTS_MARKER.length).split('\n')[0];
  return line
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const match = /^(.*?)\s*\(([^)]*)\)$/.exec(entry);
      return match ? { name: match[1], role: match[2] } : { name: entry, role: '' };
    });
}
