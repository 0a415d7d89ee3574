import { Migration } from '@mikro-orm/migrations';

export class Migration20261122001111_administration extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "audit_events" ("id" uuid not null, "created_at" timestamptz not null, "action" varchar(64) not null, "outcome" varchar(8) not null, "actor_user_id" uuid null, "target_user_id" uuid null, "ip" varchar(45) null, "user_agent" varchar(512) null, "details" jsonb null, constraint "audit_events_pkey" primary key ("id"));`);
    this.addSql(`create index "audit_events_created_at_index" on "audit_events" ("created_at");`);
    this.addSql(`create index "audit_events_action_index" on "audit_events" ("action");`);
    this.addSql(`create index "audit_events_target_user_id_created_at_index" on "audit_events" ("target_user_id", "created_at");`);
    this.addSql(`create index "audit_events_actor_user_id_created_at_index" on "audit_events" ("actor_user_id", "created_at");`);

    this.addSql(`alter table "signing_keys" add column "activates_at" timestamptz null;`);

    this.addSql(`alter table "users" add column "locked_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_events" cascade;`);

    this.addSql(`alter table "signing_keys" drop column "activates_at";`);

    this.addSql(`alter table "users" drop column "locked_at";`);
  }

}
