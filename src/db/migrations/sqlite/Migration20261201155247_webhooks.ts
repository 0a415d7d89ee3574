import { Migration } from '@mikro-orm/migrations';

export class Migration20261201155247_webhooks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`webhook_attempts\` (\`id\` text not null, \`delivery_id\` text not null, \`at\` datetime not null, \`outcome\` text not null, \`response_status\` integer null, \`duration_ms\` integer not null, \`response_body\` text null, \`error\` text null, primary key (\`id\`));`);
    this.addSql(`create index \`webhook_attempts_delivery_id_index\` on \`webhook_attempts\` (\`delivery_id\`);`);

    this.addSql(`create table \`webhook_deliveries\` (\`id\` text not null, \`endpoint_id\` text not null, \`event_id\` text not null, \`event_type\` text not null, \`created_at\` datetime not null, \`attempts\` integer not null default 0, \`next_attempt_at\` datetime not null, \`locked_until\` datetime null, \`delivered_at\` datetime null, \`failed_at\` datetime null, \`last_response_status\` integer null, \`last_error\` text null, primary key (\`id\`));`);
    this.addSql(`create index \`webhook_deliveries_next_attempt_at_index\` on \`webhook_deliveries\` (\`next_attempt_at\`);`);
    this.addSql(`create index \`webhook_deliveries_endpoint_id_id_index\` on \`webhook_deliveries\` (\`endpoint_id\`, \`id\`);`);
    this.addSql(`create index \`webhook_deliveries_endpoint_id_created_at_id_index\` on \`webhook_deliveries\` (\`endpoint_id\`, \`created_at\`, \`id\`);`);
    this.addSql(`create index \`webhook_deliveries_delivered_at_index\` on \`webhook_deliveries\` (\`delivered_at\`);`);
    this.addSql(`create index \`webhook_deliveries_failed_at_index\` on \`webhook_deliveries\` (\`failed_at\`);`);
    this.addSql(`create index \`webhook_deliveries_event_id_index\` on \`webhook_deliveries\` (\`event_id\`);`);

    this.addSql(`create table \`webhook_endpoints\` (\`id\` text not null, \`url\` text not null, \`events\` text not null, \`description\` text null, \`enabled\` integer not null default true, \`sealed_secret\` text not null, \`sealed_previous_secret\` text null, \`previous_secret_expires_at\` datetime null, \`secret_rotated_at\` datetime null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);

    this.addSql(`create table \`webhook_events\` (\`id\` text not null, \`type\` text not null, \`payload\` text not null, \`created_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`webhook_events_created_at_index\` on \`webhook_events\` (\`created_at\`);`);
  }

}
