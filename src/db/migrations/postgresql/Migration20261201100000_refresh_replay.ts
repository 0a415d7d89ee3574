import { Migration } from '@mikro-orm/migrations';

export class Migration20261201100000_refresh_replay extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "refresh_tokens" add column "replayed_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "refresh_tokens" drop column "replayed_at";`);
  }

}
