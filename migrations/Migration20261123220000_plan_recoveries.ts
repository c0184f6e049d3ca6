import { Migration } from '@mikro-orm/migrations';

export class Migration20261123220000_plan_recoveries extends Migration {
  override name = 'Migration20261123220000_plan_recoveries';

  override up(): void | Promise<void> {
    this.addSql(`alter table "plans" add column "recoveries" int not null default 0;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "plans" drop column "recoveries";`);
  }
}
