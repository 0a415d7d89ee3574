import { Migration } from '@mikro-orm/migrations';

export class Migration20261201135124_email_sign_in extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`email_sign_in_requests\` (\`id\` text not null, \`user_id\` text not null, \`token_hash\` text not null, \`code_hash\` text not null, \`attempts\` integer not null default 0, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`consumed_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`email_sign_in_requests_user_id_index\` on \`email_sign_in_requests\` (\`user_id\`);`);
    this.addSql(`create unique index \`email_sign_in_requests_token_hash_unique\` on \`email_sign_in_requests\` (\`token_hash\`);`);
    this.addSql(`create index \`email_sign_in_requests_expires_at_index\` on \`email_sign_in_requests\` (\`expires_at\`);`);
  }

}
