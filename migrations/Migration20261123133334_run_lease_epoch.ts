import { Migration } from '@mikro-orm/migrations';

export class Migration20261123133334_run_lease_epoch extends Migration {
  override name = 'Migration20261123133334_run_lease_epoch';

  override up(): void | Promise<void> {
    this.addSql(`alter table "runs" add "lease_epoch" int not null default 0;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "runs" drop column "lease_epoch";`);
  }
}
