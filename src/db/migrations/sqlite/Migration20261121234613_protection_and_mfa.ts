import { Migration } from '@mikro-orm/migrations';

export class Migration20261121234613_protection_and_mfa extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`blocked_ips\` (\`id\` text not null, \`ip\` text not null, \`blocked_at\` datetime not null, \`expires_at\` datetime not null, \`failures\` integer not null, \`unblocked_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`blocked_ips_ip_index\` on \`blocked_ips\` (\`ip\`);`);
    this.addSql(`create index \`blocked_ips_expires_at_index\` on \`blocked_ips\` (\`expires_at\`);`);

    this.addSql(`create table \`login_attempts\` (\`id\` text not null, \`created_at\` datetime not null, \`email\` text not null, \`user_id\` text null, \`ip\` text null, \`user_agent\` text null, \`device_type\` text not null, \`browser\` text null, \`os\` text null, \`device_key\` text not null, \`outcome\` text not null, \`reason\` text null, \`method\` text null, primary key (\`id\`));`);
    this.addSql(`create index \`login_attempts_created_at_index\` on \`login_attempts\` (\`created_at\`);`);
    this.addSql(`create index \`login_attempts_email_index\` on \`login_attempts\` (\`email\`);`);
    this.addSql(`create index \`login_attempts_ip_index\` on \`login_attempts\` (\`ip\`);`);
    this.addSql(`create index \`login_attempts_user_id_outcome_created_at_index\` on \`login_attempts\` (\`user_id\`, \`outcome\`, \`created_at\`);`);

    this.addSql(`create table \`mfa_challenges\` (\`id\` text not null, \`user_id\` text not null, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`attempts\` integer not null default 0, \`consumed_at\` datetime null, \`email_code_hash\` text null, \`ip\` text null, \`user_agent\` text null, \`refresh_token_delivery\` text not null, primary key (\`id\`));`);
    this.addSql(`create index \`mfa_challenges_user_id_index\` on \`mfa_challenges\` (\`user_id\`);`);
    this.addSql(`create index \`mfa_challenges_expires_at_index\` on \`mfa_challenges\` (\`expires_at\`);`);

    this.addSql(`create table \`recovery_codes\` (\`id\` text not null, \`user_id\` text not null, \`code_hash\` text not null, \`created_at\` datetime not null, \`used_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`recovery_codes_user_id_index\` on \`recovery_codes\` (\`user_id\`);`);
    this.addSql(`create unique index \`recovery_codes_code_hash_unique\` on \`recovery_codes\` (\`code_hash\`);`);

    this.addSql(`alter table \`users\` add column \`totp_secret\` text null;`);
    this.addSql(`alter table \`users\` add column \`totp_enabled_at\` datetime null;`);
    this.addSql(`alter table \`users\` add column \`totp_last_step\` integer null;`);
    this.addSql(`alter table \`users\` add column \`email_otp_enabled_at\` datetime null;`);
  }

}
