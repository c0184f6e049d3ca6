import { Injectable } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { type Agent, ListAgentsQuery } from '@codelab/agents';
import { AGENTS_MARKER, HANDOVER_MARKER, MEMORY_MARKER, TASK_MARKER } from '@codelab/llm';
import { DELEGATE, SWITCH_AGENT } from '@codelab/tools';
import type { HandoverInput, TaskInput } from './handoffs/hand-offs';
import { type MemoryItem, MemoryService, MemoryUnavailableError } from '@codelab/memory';
import { MessageLog, MessageRole } from '@codelab/sessions';

/** Prompt history budget: the newest messages that fit, about four characters per token. */
export const HISTORY_TOKEN_BUDGET = 3_000;
const MAX_HISTORY_MESSAGES = 50;
const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export interface BuiltPrompt {
  messages: BaseMessage[];
  memoryHits: number;
  historyMessages: number;
  /** Set when recall failed: the prompt was built without memory. */
  memoryUnavailable?: MemoryUnavailableError;
}

/** System prompt + memory hits from RAG + recent history within the token budget + the input. */
@Injectable()
export class PromptBuilder {
  constructor(
    private readonly messages: MessageLog,
    private readonly memory: MemoryService,
    private readonly queries: QueryBus,
  ) {}

  /** A delegated task: the agent's own prompt, who asked, the result's shape, the instruction. */
  buildTask(agent: Agent, task: TaskInput): BuiltPrompt {
    let system = `${agent.systemPrompt}\n\nYou are "${agent.name}" (${agent.role}), an agent of CodeLab.\n\n${TASK_MARKER} ${task.from_agent_name} delegated this task to you; your final answer is its result.`;
    if (task.attempt && task.attempt > 1) system += ` (Attempt ${task.attempt}.)`;
    if (task.returns)
      system += ` Answer with only a JSON value matching this JSON Schema: ${JSON.stringify(task.returns)}`;
    return {
      messages: [new SystemMessage(system), new HumanMessage(task.instruction)],
      memoryHits: 0,
      historyMessages: 0,
    };
  }

  async build(
    agent: Agent,
    sessionId: string,
    input: { seq: number; content: string },
    handover?: HandoverInput | null,
  ): Promise<BuiltPrompt> {
    let hits: MemoryItem[] = [];
    let memoryUnavailable: MemoryUnavailableError | undefined;
    try {
      hits = await this.memory.recall(
        {
          ownerId: agent.ownerId,
          agentId: agent.id,
          projectId: agent.project.id,
          memoryEnabled: agent.memoryEnabled,
          memoryTopK: agent.memoryTopK,
        },
        input.content,
      );
    } catch (error) {
      // Memory is an aid, not the answer: without it the agent still replies.
      if (!(error instanceof MemoryUnavailableError)) throw error;
      memoryUnavailable = error;
    }
    let system = `${agent.systemPrompt}\n\nYou are "${agent.name}" (${agent.role}), an agent of CodeLab.`;
    if (hits.length)
      system += `\n\n${MEMORY_MARKER}\n${hits.map((h) => `- ${h.content.replace(/\s+/g, ' ')}`).join('\n')}`;
    // Who it can hand over or delegate to: the project's other agents and their roles.
    if (agent.tools.includes(SWITCH_AGENT) || agent.tools.includes(DELEGATE)) {
      const { items } = await this.queries.execute(
        new ListAgentsQuery(agent.project.id, agent.ownerId, 50),
      );
      const others = items.filter((a) => a.id !== agent.id);
      if (others.length)
        system += `\n\n${AGENTS_MARKER} ${others.map((a) => `${a.name} (${a.role})`).join(', ')}`;
    }
    if (handover)
      system += `\n\n${HANDOVER_MARKER} ${handover.from_agent_name} handed this conversation to you (${handover.explanation}); answer the user's last message.${handover.note ? `\nTheir note:\n${handover.note}` : ''}`;

    // The conversation's text turns: other runs' tool calls and results are not replayed.
    const rows = await this.messages.history(sessionId, input.seq, MAX_HISTORY_MESSAGES);
    const history: BaseMessage[] = [];
    let budget = HISTORY_TOKEN_BUDGET - estimateTokens(system) - estimateTokens(input.content);
    for (const row of rows) {
      budget -= estimateTokens(row.content);
      if (budget < 0) break;
      history.unshift(
        row.role === MessageRole.User ? new HumanMessage(row.content) : new AIMessage(row.content),
      );
    }
    return {
      messages: [new SystemMessage(system), ...history, new HumanMessage(input.content)],
      memoryHits: hits.length,
      historyMessages: history.length,
      memoryUnavailable,
    };
  }
}
