import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { OutboxMailSchema, type OutboxMail } from '../db/entities.js';
import { OutboxWorker, type DeliveryCounts } from '../db/outbox.js';
import type { Clock } from '../domain/kernel/clock.js';
import type { MailTransport } from './transport.js';
import type { Metrics } from '../observability/metrics.js';

export type { DeliveryCounts };

const BATCH = 20;
const CLAIM_SECONDS = 120;
const MAX_RETRY_SECONDS = 3600;

/**
 * Sends what the mail outbox holds, through the outbox machinery that webhook deliveries share (db/outbox.ts): a
 * mail is claimed before it is sent, so several instances (or an overlapping run) never send it twice; a failure
 * schedules a retry with exponential backoff until MAIL_MAX_ATTEMPTS, so an SMTP outage delays mail and loses none.
 * Bodies can carry single-use links: they are cleared once the mail is sent or given up.
 */
export class MailDeliverer {
  private readonly worker: OutboxWorker<OutboxMail>;

  constructor(
    orm: MikroORM,
    transport: MailTransport,
    clock: Clock,
    logger: Logger,
    metrics: Metrics,
    options: { maxAttempts: number; retrySeconds: number },
  ) {
    this.worker = new OutboxWorker<OutboxMail>(
      orm,
      {
        name: 'mail',
        entity: OutboxMailSchema,
        table: 'mail_outbox',
        done: { column: 'sent_at', property: 'sentAt' },
        failed: { column: 'failed_at', property: 'failedAt' },
        order: 'm.next_attempt_at, m.id',
        batch: BATCH,
        parallel: false,
        onDone: { textBody: null, htmlBody: null, lastError: null },
        onFailed: { textBody: null, htmlBody: null },
        async deliver(mail) {
          await transport.send({ id: mail.id, to: mail.recipient, subject: mail.subject, text: mail.textBody ?? '', html: mail.htmlBody });
          return { ok: true };
        },
        observe(outcome) {
          if (outcome !== 'sent') metrics.mailFailures.inc();
        },
      },
      clock,
      logger,
      { maxAttempts: options.maxAttempts, retrySeconds: options.retrySeconds, maxRetrySeconds: MAX_RETRY_SECONDS, claimSeconds: CLAIM_SECONDS },
    );
  }

  /** Starts a delivery run soon (after a commit that queued mail). Never throws. */
  kick(): void {
    this.worker.kick();
  }

  /** Waits for the current run, if any (for shutdown and tests). */
  idle(): Promise<void> {
    return this.worker.idle();
  }

  deliverDue(): Promise<DeliveryCounts> {
    return this.worker.deliverDue();
  }
}
