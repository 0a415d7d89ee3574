import { Migration } from '@mikro-orm/migrations';

export class Migration20261201135429_passkeys extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`passkeys\` (\`id\` text not null, \`user_id\` text not null, \`credential_id\` text not null, \`public_key\` text not null, \`counter\` bigint not null default 0, \`transports\` text not null default '', \`device_type\` text not null, \`backed_up\` integer not null default false, \`aaguid\` text not null, \`name\` text not null, \`created_at\` datetime not null, \`last_used_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create index \`passkeys_user_id_index\` on \`passkeys\` (\`user_id\`);`);
    this.addSql(`create unique index \`passkeys_credential_id_unique\` on \`passkeys\` (\`credential_id\`);`);

    this.addSql(`create table \`webauthn_challenges\` (\`id\` text not null, \`challenge\` text not null, \`purpose\` text not null, \`user_id\` text null, \`created_at\` datetime not null, \`expires_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`webauthn_challenges_user_id_index\` on \`webauthn_challenges\` (\`user_id\`);`);
    this.addSql(`create index \`webauthn_challenges_expires_at_index\` on \`webauthn_challenges\` (\`expires_at\`);`);
  }

}
