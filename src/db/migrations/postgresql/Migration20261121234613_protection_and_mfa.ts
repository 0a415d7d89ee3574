import { Migration } from '@mikro-orm/migrations';

export class Migration20261121234613_protection_and_mfa extends Migration {

  override async up(): Promise<void> {
    // The shared store of rate-limit and lockout counters (rate-limiter-flexible's layout). Created here, not by the
    // library at start-up, so that several instances starting at once do not race to create it.
    this.addSql(`create table if not exists "rate_limits" ("key" varchar(255) primary key, "points" integer not null default 0, "expire" bigint);`);

    this.addSql(`create table "blocked_ips" ("id" uuid not null, "ip" varchar(45) not null, "blocked_at" timestamptz not null, "expires_at" timestamptz not null, "failures" int not null, "unblocked_at" timestamptz null, constraint "blocked_ips_pkey" primary key ("id"));`);
    this.addSql(`create index "blocked_ips_ip_index" on "blocked_ips" ("ip");`);
    this.addSql(`create index "blocked_ips_expires_at_index" on "blocked_ips" ("expires_at");`);

    this.addSql(`create table "login_attempts" ("id" uuid not null, "created_at" timestamptz not null, "email" varchar(254) not null, "user_id" uuid null, "ip" varchar(45) null, "user_agent" varchar(512) null, "device_type" varchar(16) not null, "browser" varchar(64) null, "os" varchar(64) null, "device_key" varchar(150) not null, "outcome" varchar(16) not null, "reason" varchar(32) null, "method" varchar(16) null, constraint "login_attempts_pkey" primary key ("id"));`);
    this.addSql(`create index "login_attempts_created_at_index" on "login_attempts" ("created_at");`);
    this.addSql(`create index "login_attempts_email_index" on "login_attempts" ("email");`);
    this.addSql(`create index "login_attempts_ip_index" on "login_attempts" ("ip");`);
    this.addSql(`create index "login_attempts_user_id_outcome_created_at_index" on "login_attempts" ("user_id", "outcome", "created_at");`);

    this.addSql(`create table "mfa_challenges" ("id" uuid not null, "user_id" uuid not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "attempts" int not null default 0, "consumed_at" timestamptz null, "email_code_hash" varchar(64) null, "ip" varchar(45) null, "user_agent" varchar(512) null, "refresh_token_delivery" varchar(8) not null, constraint "mfa_challenges_pkey" primary key ("id"));`);
    this.addSql(`create index "mfa_challenges_user_id_index" on "mfa_challenges" ("user_id");`);
    this.addSql(`create index "mfa_challenges_expires_at_index" on "mfa_challenges" ("expires_at");`);

    this.addSql(`create table "recovery_codes" ("id" uuid not null, "user_id" uuid not null, "code_hash" varchar(64) not null, "created_at" timestamptz not null, "used_at" timestamptz null, constraint "recovery_codes_pkey" primary key ("id"));`);
    this.addSql(`create index "recovery_codes_user_id_index" on "recovery_codes" ("user_id");`);
    this.addSql(`alter table "recovery_codes" add constraint "recovery_codes_code_hash_unique" unique ("code_hash");`);

    this.addSql(`alter table "users" add column "totp_secret" varchar(64) null, add column "totp_enabled_at" timestamptz null, add column "totp_last_step" int null, add column "email_otp_enabled_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "rate_limits";`);
    this.addSql(`drop table if exists "blocked_ips" cascade;`);

    this.addSql(`drop table if exists "login_attempts" cascade;`);

    this.addSql(`drop table if exists "mfa_challenges" cascade;`);

    this.addSql(`drop table if exists "recovery_codes" cascade;`);

    this.addSql(`alter table "users" drop column "totp_secret", drop column "totp_enabled_at", drop column "totp_last_step", drop column "email_otp_enabled_at";`);
  }

}
