export { type ChatModelHandle, ChatModelFactory, type ModelSpec } from './chat-model.factory';
export { classifyLlmError, LlmError, type LlmErrorKind, parseRetryAfter } from './llm.errors';
export { LlmModule } from './llm.module';
export { OfflineChatModel } from './offline/offline-chat-model';
export {
  AGENTS_MARKER,
  HANDOVER_MARKER,
  TASK_MARKER,
  REPAIR_MARKER,
  MEMORY_MARKER,
  OFFLINE_PREFIX,
  parseToolDirective,
  PLANNER_MARKER,
  planFor,
  type PlannedTask,
} from './offline/offline-rules';
export {
  type ChatRunnable,
  ModelCaller,
  type ModelCallOptions,
  type ModelCallResult,
  type ModelTarget,
} from './resilience/model-caller';
