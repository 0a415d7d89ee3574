import { Migration } from '@mikro-orm/migrations';

export class Migration20261201155223_organizations extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`invitations\` (\`id\` text not null, \`organization_id\` text not null, \`email\` text not null, \`role\` text not null, \`token_hash\` text not null, \`invited_by\` text null, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`accepted_at\` datetime null, \`accepted_by\` text null, \`revoked_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create unique index \`invitations_token_hash_unique\` on \`invitations\` (\`token_hash\`);`);
    this.addSql(`create index \`invitations_expires_at_index\` on \`invitations\` (\`expires_at\`);`);
    this.addSql(`create index \`invitations_organization_id_created_at_id_index\` on \`invitations\` (\`organization_id\`, \`created_at\`, \`id\`);`);
    this.addSql(`create index \`invitations_organization_id_email_index\` on \`invitations\` (\`organization_id\`, \`email\`);`);

    this.addSql(`create table \`memberships\` (\`id\` text not null, \`organization_id\` text not null, \`user_id\` text not null, \`role\` text not null, \`created_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`memberships_organization_id_created_at_id_index\` on \`memberships\` (\`organization_id\`, \`created_at\`, \`id\`);`);
    this.addSql(`create index \`memberships_user_id_created_at_id_index\` on \`memberships\` (\`user_id\`, \`created_at\`, \`id\`);`);
    this.addSql(`create index \`memberships_organization_id_role_index\` on \`memberships\` (\`organization_id\`, \`role\`);`);
    this.addSql(`create unique index \`memberships_organization_id_user_id_unique\` on \`memberships\` (\`organization_id\`, \`user_id\`);`);

    this.addSql(`create table \`organizations\` (\`id\` text not null, \`name\` text not null, \`name_key\` text not null, \`slug\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create unique index \`organizations_slug_unique\` on \`organizations\` (\`slug\`);`);
    this.addSql(`create index \`organizations_created_at_id_index\` on \`organizations\` (\`created_at\`, \`id\`);`);
    this.addSql(`create index \`organizations_name_key_created_at_index\` on \`organizations\` (\`name_key\`, \`created_at\`);`);

    this.addSql(`alter table \`sessions\` add column \`active_organization_id\` text null;`);
    this.addSql(`create index \`sessions_active_organization_id_index\` on \`sessions\` (\`active_organization_id\`);`);
  }

}
