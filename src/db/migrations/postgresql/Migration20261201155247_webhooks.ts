import { Migration } from '@mikro-orm/migrations';

export class Migration20261201155247_webhooks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "webhook_attempts" ("id" uuid not null, "delivery_id" uuid not null, "at" timestamptz not null, "outcome" varchar(16) not null, "response_status" int null, "duration_ms" int not null, "response_body" varchar(1000) null, "error" varchar(500) null, constraint "webhook_attempts_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_attempts_delivery_id_index" on "webhook_attempts" ("delivery_id");`);

    this.addSql(`create table "webhook_deliveries" ("id" uuid not null, "endpoint_id" uuid not null, "event_id" varchar(64) not null, "event_type" varchar(64) not null, "created_at" timestamptz not null, "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "locked_until" timestamptz null, "delivered_at" timestamptz null, "failed_at" timestamptz null, "last_response_status" int null, "last_error" varchar(500) null, constraint "webhook_deliveries_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_deliveries_next_attempt_at_index" on "webhook_deliveries" ("next_attempt_at");`);
    this.addSql(`create index "webhook_deliveries_endpoint_id_id_index" on "webhook_deliveries" ("endpoint_id", "id");`);
    this.addSql(`create index "webhook_deliveries_endpoint_id_created_at_id_index" on "webhook_deliveries" ("endpoint_id", "created_at", "id");`);
    this.addSql(`create index "webhook_deliveries_delivered_at_index" on "webhook_deliveries" ("delivered_at");`);
    this.addSql(`create index "webhook_deliveries_failed_at_index" on "webhook_deliveries" ("failed_at");`);
    this.addSql(`create index "webhook_deliveries_event_id_index" on "webhook_deliveries" ("event_id");`);

    this.addSql(`create table "webhook_endpoints" ("id" uuid not null, "url" varchar(2000) not null, "events" varchar(2000) not null, "description" varchar(500) null, "enabled" boolean not null default true, "sealed_secret" varchar(300) not null, "sealed_previous_secret" varchar(300) null, "previous_secret_expires_at" timestamptz null, "secret_rotated_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "webhook_endpoints_pkey" primary key ("id"));`);

    this.addSql(`create table "webhook_events" ("id" varchar(64) not null, "type" varchar(64) not null, "payload" text not null, "created_at" timestamptz not null, constraint "webhook_events_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_events_created_at_index" on "webhook_events" ("created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "webhook_attempts" cascade;`);

    this.addSql(`drop table if exists "webhook_deliveries" cascade;`);

    this.addSql(`drop table if exists "webhook_endpoints" cascade;`);

    this.addSql(`drop table if exists "webhook_events" cascade;`);
  }

}
