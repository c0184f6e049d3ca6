import { Migration } from '@mikro-orm/migrations';

export class Migration20261123200000_handoffs extends Migration {
  override name = 'Migration20261123200000_handoffs';

  override up(): void | Promise<void> {
    // A run reserved in its lane but not to be dispatched yet (a switch's continuation).
    this.addSql(`alter table "runs" add column "held" boolean not null default false;`);
    // Messages of delegated tasks live in the session's log but not in its conversation.
    this.addSql(`alter table "messages" add column "internal" boolean not null default false;`);
    this.addSql(
      `create table "agent_switches" ("id" uuid not null, "session_id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "from_agent_id" uuid null, "from_agent_name" varchar(100) null, "to_agent_id" uuid not null, "to_agent_name" varchar(100) not null, "reason" varchar(10) not null, "explanation" text null, "note" text null, "run_id" uuid null, "input_message_id" uuid null, "continuation_run_id" uuid null, "event_id" uuid not null, "created_at" timestamptz not null default date_trunc('milliseconds'::text, now()), primary key ("id"));`,
    );
    this.addSql(
      `alter table "agent_switches" add constraint "agent_switches_event_id_unique" unique ("event_id");`,
    );
    this.addSql(
      `create index "agent_switches_session_created_idx" on "agent_switches" ("session_id", "created_at" desc, "id" desc);`,
    );
    this.addSql(`create index "agent_switches_owner_id_index" on "agent_switches" ("owner_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "agent_switches" cascade;`);
    this.addSql(`alter table "messages" drop column "internal";`);
    this.addSql(`alter table "runs" drop column "held";`);
  }
}
