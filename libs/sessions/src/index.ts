export { ChatSession } from './entities/chat-session.entity';
export { Message, MessageRole, type ToolCallRecord } from './entities/message.entity';
export { IdempotencyRecord } from './entities/idempotency-record.entity';
export { SessionsModule } from './sessions.module';
export { SessionsHttpModule } from './http/sessions-http.module';
export { SessionsWorkerModule } from './jobs/sessions-worker.module';
export { IdempotencyCleanup } from './jobs/idempotency-cleanup';
export {
  MessageLog,
  messageDtoOf,
  type AppendMessage,
  type LoggedMessage,
} from './messages/message-log';
export { GetOwnedSessionQuery } from './queries/get-owned-session/get-owned-session.query';
export { sessionLane } from './commands/send-message/send-message.handler';
export { CurrentAgent, type SessionAgentChange } from './current-agent/current-agent';
