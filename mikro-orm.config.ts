import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { type AppConfig, DomainEventHandling, DomainEventRecord } from '@codelab/platform';
import { User } from '@codelab/users';
import { RefreshToken } from '@codelab/auth';
import { Project } from '@codelab/projects';
import { Agent } from '@codelab/agents';
import { AgentMemory } from '@codelab/memory';
import { RunDispatch, Run, RunStep } from '@codelab/runs';
import { ChatSession, IdempotencyRecord, Message } from '@codelab/sessions';
import { Approval } from '@codelab/approvals';
import { AgentSwitch } from '@codelab/handoffs';
import { Plan, PlanTask } from '@codelab/orchestration';
import { MIGRATIONS } from './migrations';

/** Every entity of every feature; the one list both the app and the migrator use. */
export const ENTITIES = [
  User,
  RefreshToken,
  Project,
  Agent,
  AgentMemory,
  ChatSession,
  Message,
  Run,
  RunStep,
  RunDispatch,
  IdempotencyRecord,
  DomainEventRecord,
  DomainEventHandling,
  Approval,
  AgentSwitch,
  Plan,
  PlanTask,
];

/** MikroORM options for a validated AppConfig (the app, tests and migration scripts share it). */
export function createOrmConfig(
  config: Pick<AppConfig, 'databaseUrl' | 'dbPoolMax' | 'nodeEnv'>,
): Options {
  return defineConfig({
    clientUrl: config.databaseUrl,
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    pool: { min: 0, max: config.dbPoolMax },
    // pg waits forever for a connection by default; while PostgreSQL is down or the pool is
    // exhausted a request must fail fast (503, Retry-After) instead of hanging.
    driverOptions: { connectionTimeoutMillis: 5_000, keepAlive: true },
    ensureDatabase: false,
    allowGlobalContext: false,
    debug: false,
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: 'migrations',
      pathTs: 'migrations',
      emit: 'ts',
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      silent: true,
      migrationsList: MIGRATIONS,
    },
  });
}
