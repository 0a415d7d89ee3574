import { Migration } from '@mikro-orm/migrations';

export class Migration20261121232403_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`mail_outbox\` (\`id\` text not null, \`recipient\` text not null, \`subject\` text not null, \`text_body\` text null, \`html_body\` text null, \`created_at\` datetime not null, \`attempts\` integer not null default 0, \`next_attempt_at\` datetime not null, \`locked_until\` datetime null, \`sent_at\` datetime null, \`failed_at\` datetime null, \`last_error\` text null, primary key (\`id\`));`);
    this.addSql(`create index \`mail_outbox_next_attempt_at_index\` on \`mail_outbox\` (\`next_attempt_at\`);`);

    this.addSql(`create table \`pending_registrations\` (\`id\` text not null, \`email\` text not null, \`name\` text null, \`password_hash\` text not null, \`token_hash\` text not null, \`created_at\` datetime not null, \`expires_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`pending_registrations_email_index\` on \`pending_registrations\` (\`email\`);`);
    this.addSql(`create unique index \`pending_registrations_token_hash_unique\` on \`pending_registrations\` (\`token_hash\`);`);
    this.addSql(`create index \`pending_registrations_expires_at_index\` on \`pending_registrations\` (\`expires_at\`);`);

    this.addSql(`create table \`refresh_tokens\` (\`id\` text not null, \`session_id\` text not null, \`token_hash\` text not null, \`created_at\` datetime not null, \`rotated_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`refresh_tokens_session_id_index\` on \`refresh_tokens\` (\`session_id\`);`);
    this.addSql(`create unique index \`refresh_tokens_token_hash_unique\` on \`refresh_tokens\` (\`token_hash\`);`);

    this.addSql(`create table \`sessions\` (\`id\` text not null, \`user_id\` text not null, \`created_at\` datetime not null, \`last_active_at\` datetime not null, \`expires_at\` datetime not null, \`revoked_at\` datetime null, \`revoked_reason\` text null, \`ip\` text null, \`user_agent\` text null, \`device_type\` text not null, \`browser\` text null, \`os\` text null, \`refresh_secret\` text not null, primary key (\`id\`));`);
    this.addSql(`create index \`sessions_user_id_index\` on \`sessions\` (\`user_id\`);`);

    this.addSql(`create table \`signing_keys\` (\`kid\` text not null, \`alg\` text not null, \`public_jwk\` json not null, \`private_jwk\` json not null, \`created_at\` datetime not null, \`retires_at\` datetime null, primary key (\`kid\`));`);

    this.addSql(`create table \`users\` (\`id\` text not null, \`email\` text not null, \`name\` text null, \`password_hash\` text null, \`role\` text not null default 'user', \`email_verified\` integer not null default true, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create unique index \`users_email_unique\` on \`users\` (\`email\`);`);
  }

}
