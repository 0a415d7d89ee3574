import { Migration } from '@mikro-orm/migrations';

export class Migration20261201135124_email_sign_in extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "email_sign_in_requests" ("id" uuid not null, "user_id" uuid not null, "token_hash" varchar(64) not null, "code_hash" varchar(64) not null, "attempts" int not null default 0, "created_at" timestamptz not null, "expires_at" timestamptz not null, "consumed_at" timestamptz null, constraint "email_sign_in_requests_pkey" primary key ("id"));`);
    this.addSql(`create index "email_sign_in_requests_user_id_index" on "email_sign_in_requests" ("user_id");`);
    this.addSql(`alter table "email_sign_in_requests" add constraint "email_sign_in_requests_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "email_sign_in_requests_expires_at_index" on "email_sign_in_requests" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "email_sign_in_requests" cascade;`);
  }

}
