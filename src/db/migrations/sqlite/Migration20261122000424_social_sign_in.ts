import { Migration } from '@mikro-orm/migrations';

export class Migration20261122000424_social_sign_in extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`identities\` (\`id\` text not null, \`user_id\` text not null, \`provider\` text not null, \`subject\` text not null, \`email\` text null, \`created_at\` datetime not null, \`last_used_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`identities_user_id_index\` on \`identities\` (\`user_id\`);`);
    this.addSql(`create unique index \`identities_provider_subject_unique\` on \`identities\` (\`provider\`, \`subject\`);`);
    this.addSql(`create unique index \`identities_user_id_provider_unique\` on \`identities\` (\`user_id\`, \`provider\`);`);

    this.addSql(`create table \`oauth_states\` (\`id\` text not null, \`state_hash\` text not null, \`browser_hash\` text not null, \`provider\` text not null, \`code_verifier\` text not null, \`nonce\` text not null, \`intent\` text not null, \`link_user_id\` text null, \`created_at\` datetime not null, \`expires_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create unique index \`oauth_states_state_hash_unique\` on \`oauth_states\` (\`state_hash\`);`);
    this.addSql(`create index \`oauth_states_expires_at_index\` on \`oauth_states\` (\`expires_at\`);`);
  }

}
