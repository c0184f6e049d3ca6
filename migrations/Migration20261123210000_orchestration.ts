import { Migration } from '@mikro-orm/migrations';

export class Migration20261123210000_orchestration extends Migration {
  override name = 'Migration20261123210000_orchestration';

  override up(): void | Promise<void> {
    this.addSql(
      `alter table "chat_sessions" add column "mode" varchar(12) not null default 'direct';`,
    );
    this.addSql(
      `create table "plans" ("id" uuid not null, "run_id" uuid not null, "session_id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "status" varchar(12) not null default 'running', "replans" int not null default 0, "created_at" timestamptz not null default now(), "finished_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`alter table "plans" add constraint "plans_run_id_unique" unique ("run_id");`);
    this.addSql(`create index "plans_owner_id_index" on "plans" ("owner_id");`);
    this.addSql(
      `create table "plan_tasks" ("plan_id" uuid not null, "task_id" varchar(64) not null, "position" int not null, "agent_id" uuid not null, "agent_name" varchar(100) not null, "instruction" text not null, "depends_on" jsonb not null, "writes" jsonb not null, "on_failure" varchar(10) not null, "status" varchar(12) not null default 'pending', "attempts" int not null default 0, "child_run_id" uuid null, "result" jsonb null, "error" jsonb null, "ready_at" timestamptz null, "started_at" timestamptz null, "finished_at" timestamptz null, primary key ("plan_id", "task_id"));`,
    );
    this.addSql(`create index "plan_tasks_child_run_id_index" on "plan_tasks" ("child_run_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "plan_tasks" cascade;`);
    this.addSql(`drop table if exists "plans" cascade;`);
    this.addSql(`alter table "chat_sessions" drop column "mode";`);
  }
}
