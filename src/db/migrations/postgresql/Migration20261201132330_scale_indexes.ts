import { Migration } from '@mikro-orm/migrations';

export class Migration20261201132330_scale_indexes extends Migration {

  override async up(): Promise<void> {
    this.addSql(`drop index "audit_events_created_at_index";`);

    this.addSql(`create index "audit_events_created_at_id_index" on "audit_events" ("created_at", "id");`);

    this.addSql(`drop index "login_attempts_created_at_index";`);
    this.addSql(`drop index "login_attempts_email_index";`);
    this.addSql(`drop index "login_attempts_ip_index";`);

    this.addSql(`create index "login_attempts_created_at_id_index" on "login_attempts" ("created_at", "id");`);
    this.addSql(`create index "login_attempts_outcome_created_at_id_index" on "login_attempts" ("outcome", "created_at", "id");`);
    this.addSql(`create index "login_attempts_email_created_at_id_index" on "login_attempts" ("email", "created_at", "id");`);
    this.addSql(`create index "login_attempts_user_id_created_at_id_index" on "login_attempts" ("user_id", "created_at", "id");`);
    this.addSql(`create index "login_attempts_ip_created_at_id_index" on "login_attempts" ("ip", "created_at", "id");`);
    this.addSql(`create index "login_attempts_user_id_outcome_device_key_index" on "login_attempts" ("user_id", "outcome", "device_key");`);

    this.addSql(`create index "mail_outbox_sent_at_index" on "mail_outbox" ("sent_at");`);
    this.addSql(`create index "mail_outbox_failed_at_index" on "mail_outbox" ("failed_at");`);
    this.addSql(`create index "mail_outbox_recipient_index" on "mail_outbox" ("recipient");`);

    this.addSql(`create index "users_created_at_id_index" on "users" ("created_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "audit_events_created_at_id_index";`);

    this.addSql(`create index "audit_events_created_at_index" on "audit_events" ("created_at");`);

    this.addSql(`drop index "login_attempts_created_at_id_index";`);
    this.addSql(`drop index "login_attempts_outcome_created_at_id_index";`);
    this.addSql(`drop index "login_attempts_email_created_at_id_index";`);
    this.addSql(`drop index "login_attempts_user_id_created_at_id_index";`);
    this.addSql(`drop index "login_attempts_ip_created_at_id_index";`);
    this.addSql(`drop index "login_attempts_user_id_outcome_device_key_index";`);

    this.addSql(`create index "login_attempts_created_at_index" on "login_attempts" ("created_at");`);
    this.addSql(`create index "login_attempts_email_index" on "login_attempts" ("email");`);
    this.addSql(`create index "login_attempts_ip_index" on "login_attempts" ("ip");`);

    this.addSql(`drop index "mail_outbox_sent_at_index";`);
    this.addSql(`drop index "mail_outbox_failed_at_index";`);
    this.addSql(`drop index "mail_outbox_recipient_index";`);

    this.addSql(`drop index "users_created_at_id_index";`);
  }

}
