import { Migration } from '@mikro-orm/migrations';

export class Migration20261201100000_refresh_replay extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table \`refresh_tokens\` add column \`replayed_at\` datetime null;`);
  }

}
