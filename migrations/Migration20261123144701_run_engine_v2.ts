import { Migration } from '@mikro-orm/migrations';

export class Migration20261123144701_run_engine_v2 extends Migration {
  override name = 'Migration20261123144701_run_engine_v2';

  override up(): void | Promise<void> {
    this.addSql(`create type "run_kind" as enum ('agent', 'task', 'orchestration');`);
    this.addSql(`create type "step_kind" as enum ('llm', 'tool', 'approval', 'handoff', 'task');`);
    this.addSql(`create type "step_effect" as enum ('none', 'read', 'write', 'exec');`);
    this.addSql(
      `create type "step_status" as enum ('started', 'awaiting', 'succeeded', 'failed', 'unknown_outcome', 'skipped');`,
    );
    this.addSql(
      `create table "domain_event_handlings" ("handler" varchar(100) not null, "event_id" uuid not null, "handled_at" timestamptz not null default now(), primary key ("handler", "event_id"));`,
    );

    this.addSql(
      `create table "domain_events" ("id" uuid not null, "seq" bigserial, "type" varchar(100) not null, "aggregate_type" varchar(50) not null, "aggregate_id" varchar(100) not null, "owner_id" uuid null, "payload" jsonb not null, "created_at" timestamptz not null default now(), "published_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "domain_events" add constraint "domain_events_seq_unique" unique ("seq");`,
    );
    this.addSql(
      `create index "domain_events_unpublished_idx" on "domain_events" ("seq") where "published_at" is null;`,
    );

    this.addSql(
      `create table "run_steps" ("run_id" uuid not null, "seq" int not null, "kind" "step_kind" not null, "name" varchar(100) not null, "tool_call_id" varchar(200) null, "args" jsonb null, "args_digest" varchar(64) null, "effect" "step_effect" not null default 'none', "status" "step_status" not null default 'started', "result" jsonb null, "error" jsonb null, "usage" jsonb null, "message_id" uuid null, "lease_epoch" int not null, "attempts" int not null default 1, "started_at" timestamptz not null default now(), "finished_at" timestamptz null, primary key ("run_id", "seq"));`,
    );

    this.addSql(`alter table "runs" drop constraint "runs_session_id_foreign";`);

    this.addSql(`drop index "idempotency_records_created_at_index";`);
    // Existing records get the default lifetime from now; new ones are given theirs on insert.
    this.addSql(
      `alter table "idempotency_records" add "expires_at" timestamptz not null default now() + interval '24 hours';`,
    );
    this.addSql(`alter table "idempotency_records" alter column "expires_at" drop default;`);
    this.addSql(
      `create index "idempotency_records_expires_at_index" on "idempotency_records" ("expires_at");`,
    );

    this.addSql(
      `alter type "run_status" add value if not exists 'awaiting_children' after 'awaiting_approval';`,
    );
    this.addSql(
      `alter table "runs" add "kind" "run_kind" not null default 'agent', add "lane" varchar(100) null, add "lane_seq" bigint null, add "input" jsonb null, add "dispatches" int not null default 0, add "deadline_at" timestamptz null, add "parked_at" timestamptz null;`,
    );
    // Existing runs: the conversation lane of their session, in the order of their messages.
    this.addSql(
      `update "runs" r set "lane" = 'session:' || r."session_id"::text, "lane_seq" = coalesce((select m."seq" from "messages" m where m."id" = r."input_message_id"), 0);`,
    );
    this.addSql(
      `alter table "runs" alter column "lane" set not null, alter column "lane_seq" set not null;`,
    );
    this.addSql(`alter table "runs" alter column "input_message_id" drop not null;`);
    this.addSql(`alter table "runs" rename column "steps" to "state";`);
    this.addSql(`create index "runs_parent_run_id_index" on "runs" ("parent_run_id");`);
    this.addSql(`create index "runs_lane_status_idx" on "runs" ("lane", "status", "lane_seq");`);

    this.addSql(`alter table "run_outbox" drop constraint "run_outbox_run_id_unique";`);
    this.addSql(`alter table "run_outbox" drop constraint "run_outbox_pkey";`);
    this.addSql(`alter table "run_outbox" drop column "id";`);
    this.addSql(`alter table "run_outbox" add "dispatch" int not null default 1;`);
    this.addSql(`alter table "run_outbox" add primary key ("run_id");`);
    // A run with an outbox row was dispatched once: its (re-)enqueued job is `<run id>.1`.
    this.addSql(
      `update "runs" set "dispatches" = 1 where "id" in (select "run_id" from "run_outbox");`,
    );

    this.addSql(`drop index "messages_one_reply_per_run";`);
    this.addSql(
      `alter table "messages" add "step_seq" int null, add "tool_calls" jsonb null, add "tool_call_id" varchar(200) null;`,
    );
    // An existing reply was its run's one model turn: step 1 (a resumed run then finds it).
    this.addSql(
      `update "messages" set "step_seq" = 1 where "run_id" is not null and "role" = 'assistant';`,
    );
    this.addSql(
      `create unique index "messages_run_step_unique" on "messages" ("run_id", "step_seq") where "step_seq" is not null;`,
    );

    this.addSql(`alter table "agents" drop column "status";`);
    this.addSql(
      `alter table "agents" add "max_steps" int not null default 16, add "max_run_seconds" int not null default 600;`,
    );
    this.addSql(`alter table "agents" alter column "created_at" set default clock_timestamp();`);

    this.addSql(`drop type "agent_status";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create type "agent_status" as enum ('ready', 'busy', 'error');`);
    this.addSql(`drop table if exists "domain_event_handlings" cascade;`);
    this.addSql(`drop table if exists "domain_events" cascade;`);
    this.addSql(`drop table if exists "run_steps" cascade;`);

    this.addSql(`alter table "agents" drop column "max_steps", drop column "max_run_seconds";`);
    this.addSql(`alter table "agents" add "status" "agent_status" not null default 'ready';`);
    this.addSql(`alter table "agents" alter column "created_at" set default now();`);

    this.addSql(`drop index "idempotency_records_expires_at_index";`);
    this.addSql(`alter table "idempotency_records" drop column "expires_at";`);
    this.addSql(
      `create index "idempotency_records_created_at_index" on "idempotency_records" ("created_at");`,
    );

    this.addSql(`drop index "messages_run_step_unique";`);
    this.addSql(
      `alter table "messages" drop column "step_seq", drop column "tool_calls", drop column "tool_call_id";`,
    );
    this.addSql(
      `create unique index "messages_one_reply_per_run" on "messages" ("run_id") where role = 'assistant'::message_role;`,
    );

    this.addSql(`alter table "run_outbox" drop constraint "run_outbox_pkey";`);
    this.addSql(`alter table "run_outbox" drop column "dispatch";`);
    this.addSql(`alter table "run_outbox" add "id" uuid not null;`);
    this.addSql(
      `alter table "run_outbox" add constraint "run_outbox_run_id_unique" unique ("run_id");`,
    );
    this.addSql(`alter table "run_outbox" add primary key ("id");`);

    this.addSql(`drop index "runs_parent_run_id_index";`);
    this.addSql(`drop index "runs_lane_status_idx";`);
    this.addSql(
      `alter table "runs" drop column "kind", drop column "lane", drop column "lane_seq", drop column "input", drop column "dispatches", drop column "deadline_at", drop column "parked_at";`,
    );
    this.addSql(`alter table "runs" alter column "input_message_id" set not null;`);
    this.addSql(`alter table "runs" rename column "state" to "steps";`);
    this.addSql(
      `alter table "runs" add constraint "runs_session_id_foreign" foreign key ("session_id") references "chat_sessions" ("id") on update no action on delete cascade;`,
    );

    this.addSql(`drop type "run_kind";`);
    this.addSql(`drop type "step_kind";`);
    this.addSql(`drop type "step_effect";`);
    this.addSql(`drop type "step_status";`);
  }
}
