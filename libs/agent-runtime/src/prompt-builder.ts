import { Injectable } from '@nestjs/common';
import { AIMessage, type BaseMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { type Agent } from '@codelab/agents';
import { MEMORY_MARKER } from '@codelab/llm';
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
  ) {}

  async build(
    agent: Agent,
    sessionId: string,
    input: { seq: number; content: string },
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
