import { Migration } from '@mikro-orm/migrations';

export class Migration20261123173624_approvals extends Migration {
  override name = 'Migration20261123173624_approvals';

  override up(): void | Promise<void> {
    this.addSql(`create type "approval_kind" as enum ('tool', 'command', 'plan');`);
    this.addSql(
      `create type "approval_status" as enum ('pending', 'approved', 'rejected', 'expired', 'cancelled');`,
    );
    this.addSql(
      `create table "approvals" ("id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "session_id" uuid not null, "run_id" uuid not null, "step_seq" int not null, "agent_id" uuid not null, "kind" "approval_kind" not null, "tool_name" varchar(100) not null, "args" jsonb not null, "args_digest" varchar(64) not null, "reason" text not null, "status" "approval_status" not null default 'pending', "version" int not null default 1, "deadline_at" timestamptz not null, "default_action" varchar(10) not null, "decided_at" timestamptz null, "decided_by" varchar(10) null, "decision_reason" text null, "edited_args" jsonb null, "edited_digest" varchar(64) null, "decision_key" varchar(255) null, "resumed_at" timestamptz null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create index "approvals_owner_id_index" on "approvals" ("owner_id");`);
    this.addSql(
      `create index "approvals_pending_deadline_idx" on "approvals" ("deadline_at") where "status" = 'pending';`,
    );
    this.addSql(
      `create index "approvals_project_created_idx" on "approvals" ("project_id", "created_at" desc, "id" desc);`,
    );
    this.addSql(
      `alter table "approvals" add constraint "approvals_run_id_step_seq_unique" unique ("run_id", "step_seq");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "approvals" cascade;`);

    this.addSql(`drop type "approval_kind";`);
    this.addSql(`drop type "approval_status";`);
  }
}
