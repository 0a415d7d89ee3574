import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233458_accounts_and_resets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`password_reset_tokens\` (\`id\` text not null, \`user_id\` text not null, \`token_hash\` text not null, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`used_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`password_reset_tokens_user_id_index\` on \`password_reset_tokens\` (\`user_id\`);`);
    this.addSql(`create unique index \`password_reset_tokens_token_hash_unique\` on \`password_reset_tokens\` (\`token_hash\`);`);
    this.addSql(`create index \`password_reset_tokens_expires_at_index\` on \`password_reset_tokens\` (\`expires_at\`);`);

    this.addSql(`create index \`sessions_expires_at_index\` on \`sessions\` (\`expires_at\`);`);
    this.addSql(`create index \`sessions_revoked_at_index\` on \`sessions\` (\`revoked_at\`);`);

    this.addSql(`alter table \`users\` add column \`deleted_at\` datetime null;`);
    this.addSql(`create index \`users_deleted_at_index\` on \`users\` (\`deleted_at\`);`);
  }

}
