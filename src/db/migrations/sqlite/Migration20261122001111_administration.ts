import { Migration } from '@mikro-orm/migrations';

export class Migration20261122001111_administration extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`audit_events\` (\`id\` text not null, \`created_at\` datetime not null, \`action\` text not null, \`outcome\` text not null, \`actor_user_id\` text null, \`target_user_id\` text null, \`ip\` text null, \`user_agent\` text null, \`details\` json null, primary key (\`id\`));`);
    this.addSql(`create index \`audit_events_created_at_index\` on \`audit_events\` (\`created_at\`);`);
    this.addSql(`create index \`audit_events_action_index\` on \`audit_events\` (\`action\`);`);
    this.addSql(`create index \`audit_events_target_user_id_created_at_index\` on \`audit_events\` (\`target_user_id\`, \`created_at\`);`);
    this.addSql(`create index \`audit_events_actor_user_id_created_at_index\` on \`audit_events\` (\`actor_user_id\`, \`created_at\`);`);

    this.addSql(`alter table \`signing_keys\` add column \`activates_at\` datetime null;`);

    this.addSql(`alter table \`users\` add column \`locked_at\` datetime null;`);
  }

}
