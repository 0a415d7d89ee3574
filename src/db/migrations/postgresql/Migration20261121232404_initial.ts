import { Migration } from '@mikro-orm/migrations';

export class Migration20261121232404_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "mail_outbox" ("id" uuid not null, "recipient" varchar(254) not null, "subject" varchar(200) not null, "text_body" text null, "html_body" text null, "created_at" timestamptz not null, "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "locked_until" timestamptz null, "sent_at" timestamptz null, "failed_at" timestamptz null, "last_error" varchar(500) null, constraint "mail_outbox_pkey" primary key ("id"));`);
    this.addSql(`create index "mail_outbox_next_attempt_at_index" on "mail_outbox" ("next_attempt_at");`);

    this.addSql(`create table "pending_registrations" ("id" uuid not null, "email" varchar(254) not null, "name" varchar(100) null, "password_hash" varchar(100) not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "pending_registrations_pkey" primary key ("id"));`);
    this.addSql(`create index "pending_registrations_email_index" on "pending_registrations" ("email");`);
    this.addSql(`alter table "pending_registrations" add constraint "pending_registrations_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "pending_registrations_expires_at_index" on "pending_registrations" ("expires_at");`);

    this.addSql(`create table "refresh_tokens" ("id" uuid not null, "session_id" uuid not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null, "rotated_at" timestamptz null, constraint "refresh_tokens_pkey" primary key ("id"));`);
    this.addSql(`create index "refresh_tokens_session_id_index" on "refresh_tokens" ("session_id");`);
    this.addSql(`alter table "refresh_tokens" add constraint "refresh_tokens_token_hash_unique" unique ("token_hash");`);

    this.addSql(`create table "sessions" ("id" uuid not null, "user_id" uuid not null, "created_at" timestamptz not null, "last_active_at" timestamptz not null, "expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_reason" varchar(32) null, "ip" varchar(45) null, "user_agent" varchar(512) null, "device_type" varchar(16) not null, "browser" varchar(64) null, "os" varchar(64) null, "refresh_secret" varchar(64) not null, constraint "sessions_pkey" primary key ("id"));`);
    this.addSql(`create index "sessions_user_id_index" on "sessions" ("user_id");`);

    this.addSql(`create table "signing_keys" ("kid" varchar(64) not null, "alg" varchar(16) not null, "public_jwk" jsonb not null, "private_jwk" jsonb not null, "created_at" timestamptz not null, "retires_at" timestamptz null, constraint "signing_keys_pkey" primary key ("kid"));`);

    this.addSql(`create table "users" ("id" uuid not null, "email" varchar(254) not null, "name" varchar(100) null, "password_hash" varchar(100) null, "role" varchar(16) not null default 'user', "email_verified" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"));`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "mail_outbox" cascade;`);

    this.addSql(`drop table if exists "pending_registrations" cascade;`);

    this.addSql(`drop table if exists "refresh_tokens" cascade;`);

    this.addSql(`drop table if exists "sessions" cascade;`);

    this.addSql(`drop table if exists "signing_keys" cascade;`);

    this.addSql(`drop table if exists "users" cascade;`);
  }

}
