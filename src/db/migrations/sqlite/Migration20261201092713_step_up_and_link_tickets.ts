import { Migration } from '@mikro-orm/migrations';

export class Migration20261201092713_step_up_and_link_tickets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`identity_link_tickets\` (\`id\` text not null, \`ticket_hash\` text not null, \`user_id\` text not null, \`session_id\` text not null, \`provider\` text not null, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`used_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create unique index \`identity_link_tickets_ticket_hash_unique\` on \`identity_link_tickets\` (\`ticket_hash\`);`);
    this.addSql(`create index \`identity_link_tickets_user_id_index\` on \`identity_link_tickets\` (\`user_id\`);`);
    this.addSql(`create index \`identity_link_tickets_expires_at_index\` on \`identity_link_tickets\` (\`expires_at\`);`);

    this.addSql(`alter table \`oauth_states\` add column \`link_session_id\` text null;`);
  }

}
