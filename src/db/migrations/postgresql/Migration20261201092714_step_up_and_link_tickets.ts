import { Migration } from '@mikro-orm/migrations';

export class Migration20261201092714_step_up_and_link_tickets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "identity_link_tickets" ("id" uuid not null, "ticket_hash" varchar(64) not null, "user_id" uuid not null, "session_id" uuid not null, "provider" varchar(32) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "identity_link_tickets_pkey" primary key ("id"));`);
    this.addSql(`alter table "identity_link_tickets" add constraint "identity_link_tickets_ticket_hash_unique" unique ("ticket_hash");`);
    this.addSql(`create index "identity_link_tickets_user_id_index" on "identity_link_tickets" ("user_id");`);
    this.addSql(`create index "identity_link_tickets_expires_at_index" on "identity_link_tickets" ("expires_at");`);

    this.addSql(`alter table "oauth_states" add column "link_session_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "identity_link_tickets" cascade;`);

    this.addSql(`alter table "oauth_states" drop column "link_session_id";`);
  }

}
