import { Migration } from '@mikro-orm/migrations';

export class Migration20261123171346_project_settings extends Migration {
  override name = 'Migration20261123171346_project_settings';

  override up(): void | Promise<void> {
    this.addSql(`alter table "projects" add "settings" jsonb null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "projects" drop column "settings";`);
  }
}
