import { Migration } from '@mikro-orm/migrations';

export class Migration20261121234728_agents_and_memory extends Migration {
  override name = 'Migration20261121234728_agents_and_memory';

  override up(): void | Promise<void> {
    this.addSql(`create type "agent_status" as enum ('ready', 'busy', 'error');`);
    this.addSql(
      `create table "agent_memories" ("id" uuid not null, "owner_id" uuid not null, "project_id" uuid not null, "agent_id" uuid not null, "content" text not null, "metadata" jsonb not null, "embedding_model" varchar(100) not null, "embedding" real[] not null, "created_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(
      `create index "agent_memories_owner_id_project_id_index" on "agent_memories" ("owner_id", "project_id");`,
    );
    this.addSql(
      `create index "agent_memories_scope_idx" on "agent_memories" ("owner_id", "agent_id", "created_at" desc, "id" desc);`,
    );

    this.addSql(
      `create table "agents" ("id" uuid not null, "project_id" uuid not null, "owner_id" uuid not null, "name" varchar(100) not null, "role" varchar(32) not null, "status" "agent_status" not null default 'ready', "system_prompt" text not null, "model" varchar(200) not null, "temperature" double precision not null, "tools" jsonb not null, "write_paths" jsonb not null, "approval_tools" jsonb not null, "concurrency_limit" int not null, "memory_enabled" boolean not null, "memory_top_k" int not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("id"));`,
    );
    this.addSql(`create index "agents_owner_id_index" on "agents" ("owner_id");`);
    this.addSql(
      `create index "agents_project_id_created_at_id_index" on "agents" ("project_id", "created_at", "id");`,
    );
    this.addSql(
      `alter table "agents" add constraint "agents_project_id_name_unique" unique ("project_id", "name");`,
    );

    this.addSql(
      `alter table "agents" add constraint "agents_project_id_foreign" foreign key ("project_id") references "projects" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "agent_memories" cascade;`);
    this.addSql(`drop table if exists "agents" cascade;`);

    this.addSql(`drop type "agent_status";`);
  }
}
