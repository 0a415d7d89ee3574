import { Migration } from '@mikro-orm/migrations';

export class Migration20261122000425_social_sign_in extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "identities" ("id" uuid not null, "user_id" uuid not null, "provider" varchar(32) not null, "subject" varchar(255) not null, "email" varchar(254) null, "created_at" timestamptz not null, "last_used_at" timestamptz not null, constraint "identities_pkey" primary key ("id"));`);
    this.addSql(`create index "identities_user_id_index" on "identities" ("user_id");`);
    this.addSql(`alter table "identities" add constraint "identities_provider_subject_unique" unique ("provider", "subject");`);
    this.addSql(`alter table "identities" add constraint "identities_user_id_provider_unique" unique ("user_id", "provider");`);

    this.addSql(`create table "oauth_states" ("id" uuid not null, "state_hash" varchar(64) not null, "browser_hash" varchar(64) not null, "provider" varchar(32) not null, "code_verifier" varchar(128) not null, "nonce" varchar(128) not null, "intent" varchar(8) not null, "link_user_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "oauth_states_pkey" primary key ("id"));`);
    this.addSql(`alter table "oauth_states" add constraint "oauth_states_state_hash_unique" unique ("state_hash");`);
    this.addSql(`create index "oauth_states_expires_at_index" on "oauth_states" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "identities" cascade;`);

    this.addSql(`drop table if exists "oauth_states" cascade;`);
  }

}
