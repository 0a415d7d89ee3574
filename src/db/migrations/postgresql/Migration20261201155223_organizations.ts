import { Migration } from '@mikro-orm/migrations';

export class Migration20261201155223_organizations extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "invitations" ("id" uuid not null, "organization_id" uuid not null, "email" varchar(254) not null, "role" varchar(16) not null, "token_hash" varchar(64) not null, "invited_by" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "accepted_at" timestamptz null, "accepted_by" uuid null, "revoked_at" timestamptz null, constraint "invitations_pkey" primary key ("id"));`);
    this.addSql(`alter table "invitations" add constraint "invitations_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "invitations_expires_at_index" on "invitations" ("expires_at");`);
    this.addSql(`create index "invitations_organization_id_created_at_id_index" on "invitations" ("organization_id", "created_at", "id");`);
    this.addSql(`create index "invitations_organization_id_email_index" on "invitations" ("organization_id", "email");`);

    this.addSql(`create table "memberships" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "role" varchar(16) not null, "created_at" timestamptz not null, constraint "memberships_pkey" primary key ("id"));`);
    this.addSql(`create index "memberships_organization_id_created_at_id_index" on "memberships" ("organization_id", "created_at", "id");`);
    this.addSql(`create index "memberships_user_id_created_at_id_index" on "memberships" ("user_id", "created_at", "id");`);
    this.addSql(`create index "memberships_organization_id_role_index" on "memberships" ("organization_id", "role");`);
    this.addSql(`alter table "memberships" add constraint "memberships_organization_id_user_id_unique" unique ("organization_id", "user_id");`);

    this.addSql(`create table "organizations" ("id" uuid not null, "name" varchar(100) not null, "name_key" varchar(100) not null, "slug" varchar(48) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "organizations_pkey" primary key ("id"));`);
    this.addSql(`alter table "organizations" add constraint "organizations_slug_unique" unique ("slug");`);
    this.addSql(`create index "organizations_created_at_id_index" on "organizations" ("created_at", "id");`);
    this.addSql(`create index "organizations_name_key_created_at_index" on "organizations" ("name_key", "created_at");`);

    this.addSql(`alter table "sessions" add column "active_organization_id" uuid null;`);
    this.addSql(`create index "sessions_active_organization_id_index" on "sessions" ("active_organization_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "invitations" cascade;`);

    this.addSql(`drop table if exists "memberships" cascade;`);

    this.addSql(`drop table if exists "organizations" cascade;`);

    this.addSql(`drop index "sessions_active_organization_id_index";`);
    this.addSql(`alter table "sessions" drop column "active_organization_id";`);
  }

}
