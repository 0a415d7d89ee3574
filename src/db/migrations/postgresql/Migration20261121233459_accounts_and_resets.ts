import { Migration } from '@mikro-orm/migrations';

export class Migration20261121233459_accounts_and_resets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "password_reset_tokens" ("id" uuid not null, "user_id" uuid not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "password_reset_tokens_pkey" primary key ("id"));`);
    this.addSql(`create index "password_reset_tokens_user_id_index" on "password_reset_tokens" ("user_id");`);
    this.addSql(`alter table "password_reset_tokens" add constraint "password_reset_tokens_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "password_reset_tokens_expires_at_index" on "password_reset_tokens" ("expires_at");`);

    this.addSql(`create index "sessions_expires_at_index" on "sessions" ("expires_at");`);
    this.addSql(`create index "sessions_revoked_at_index" on "sessions" ("revoked_at");`);

    this.addSql(`alter table "users" add column "deleted_at" timestamptz null;`);
    this.addSql(`create index "users_deleted_at_index" on "users" ("deleted_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "password_reset_tokens" cascade;`);

    this.addSql(`drop index "sessions_expires_at_index";`);
    this.addSql(`drop index "sessions_revoked_at_index";`);

    this.addSql(`drop index "users_deleted_at_index";`);
    this.addSql(`alter table "users" drop column "deleted_at";`);
  }

}
