import { Migration } from '@mikro-orm/migrations';

export class Migration20261121235940_sessions_and_runs extends Migration {
  override name = 'Migration20261121235940_sessions_and_runs';

  override up(): void | Promise<void> {
    this.addSql(`create type "run_mode" as enum ('direct', 'orchestrated', 'task');`);
    this.addSql(
      `create type "run_status" as enum ('queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled', 'expired');`,
    );
    this.addSql(`create type "message_role" as enum ('user', 'assistant', 'tool', 'system');`);
    this.addSql(
      `create table "idempotency_records" ("owner_id" uuid not null, "key" varchar(255) not null, "request_hash" varchar(64) not null, "response" text null, "created_at" timestamptz not null default now(), primary key ("owner_id", "key"));`,
    );
    this.addSql(
      `create index "idempotency_records_created_at_index" on "idempotency_records" ("created_at");`,
    );

    this.addSql(
      `create table "run_outbox" ("id" uuid not null, "run_id" uuid not null, "attempts" int not null default 0, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `alter table "run_outbox" add constraint "run_outbox_run_id_unique" unique ("run_id");`,
    );
    this.addSql(`create index "run_outbox_created_at_index" on "run_outbox" ("created_at");`);

    this.addSql(
      `create table "chat_sessions" ("id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "title" varchar(200) not null, "current_agent_id" uuid null, "last_seq" int not null default 0, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "archived_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "chat_sessions_owner_id_index" on "chat_sessions" ("owner_id");`);
    this.addSql(
      `create index "chat_sessions_project_created_idx" on "chat_sessions" ("project_id", "created_at" desc, "id" desc);`,
    );

    this.addSql(
      `create table "runs" ("id" uuid not null, "session_id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "agent_id" uuid not null, "agent_name" varchar(100) not null, "parent_run_id" uuid null, "mode" "run_mode" not null default 'direct', "status" "run_status" not null default 'queued', "input_message_id" uuid not null, "output_message_id" uuid null, "steps" jsonb not null, "usage" jsonb null, "error" jsonb null, "executions" int not null default 0, "heartbeat_at" timestamptz null, "worker_id" varchar(200) null, "cancel_requested_at" timestamptz null, "created_at" timestamptz not null default now(), "started_at" timestamptz null, "finished_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "runs_owner_id_index" on "runs" ("owner_id");`);
    this.addSql(`create index "runs_agent_id_index" on "runs" ("agent_id");`);
    this.addSql(
      `create index "runs_active_idx" on "runs" ("status", "heartbeat_at") where "status" in ('queued', 'running');`,
    );
    this.addSql(
      `create index "runs_session_created_idx" on "runs" ("session_id", "created_at" desc, "id" desc);`,
    );

    this.addSql(
      `create table "messages" ("id" uuid not null, "session_id" uuid not null, "seq" int not null, "role" "message_role" not null, "content" text not null, "agent_id" uuid null, "agent_name" varchar(100) null, "run_id" uuid null, "metadata" jsonb not null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create unique index "messages_one_reply_per_run" on "messages" ("run_id") where "role" = 'assistant';`,
    );
    this.addSql(
      `alter table "messages" add constraint "messages_session_id_seq_unique" unique ("session_id", "seq");`,
    );

    this.addSql(
      `alter table "chat_sessions" add constraint "chat_sessions_project_id_foreign" foreign key ("project_id") references "projects" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "runs" add constraint "runs_session_id_foreign" foreign key ("session_id") references "chat_sessions" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "messages" add constraint "messages_session_id_foreign" foreign key ("session_id") references "chat_sessions" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "runs" drop constraint "runs_session_id_foreign";`);
    this.addSql(`alter table "messages" drop constraint "messages_session_id_foreign";`);

    this.addSql(`drop table if exists "idempotency_records" cascade;`);
    this.addSql(`drop table if exists "run_outbox" cascade;`);
    this.addSql(`drop table if exists "chat_sessions" cascade;`);
    this.addSql(`drop table if exists "runs" cascade;`);
    this.addSql(`drop table if exists "messages" cascade;`);

    this.addSql(`drop type "run_mode";`);
    this.addSql(`drop type "run_status";`);
    this.addSql(`drop type "message_role";`);
  }
}
