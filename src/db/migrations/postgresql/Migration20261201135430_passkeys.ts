import { Migration } from '@mikro-orm/migrations';

export class Migration20261201135430_passkeys extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "passkeys" ("id" uuid not null, "user_id" uuid not null, "credential_id" varchar(1366) not null, "public_key" text not null, "counter" bigint not null default 0, "transports" varchar(200) not null default '', "device_type" varchar(16) not null, "backed_up" boolean not null default false, "aaguid" varchar(36) not null, "name" varchar(64) not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, constraint "passkeys_pkey" primary key ("id"));`);
    this.addSql(`create index "passkeys_user_id_index" on "passkeys" ("user_id");`);
    this.addSql(`alter table "passkeys" add constraint "passkeys_credential_id_unique" unique ("credential_id");`);

    this.addSql(`create table "webauthn_challenges" ("id" uuid not null, "challenge" varchar(128) not null, "purpose" varchar(16) not null, "user_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "webauthn_challenges_pkey" primary key ("id"));`);
    this.addSql(`create index "webauthn_challenges_user_id_index" on "webauthn_challenges" ("user_id");`);
    this.addSql(`create index "webauthn_challenges_expires_at_index" on "webauthn_challenges" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "passkeys" cascade;`);

    this.addSql(`drop table if exists "webauthn_challenges" cascade;`);
  }

}
