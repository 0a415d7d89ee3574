import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { OutboxMailSchema, type OutboxMail } from '../db/entities.js';
import { addSeconds, type Clock } from '../domain/kernel/clock.js';
import type { MailTransport } from './transport.js';
import type { Metrics } from '../observability/metrics.js';

const BATCH = 20;
const CLAIM_SECONDS = 120;
const MAX_RETRY_SECONDS = 3600;

export interface DeliveryCounts {
  sent: number;
  retried: number;
  failed: number;
}

/**
 * Sends what the outbox holds. A mail is claimed with an atomic update before it is sent, so several instances
 * (or an overlapping run) never send it twice; a failure schedules a retry with exponential backoff until
 * MAIL_MAX_ATTEMPTS, so an SMTP outage delays mail and loses none.
 */
export class MailDeliverer {
  private running?: Promise<DeliveryCounts>;
  private again = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly transport: MailTransport,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: { maxAttempts: number; retrySeconds: number },
  ) {}

  /** Starts a delivery run soon (after a commit that queued mail). Never throws. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .catch((error) => {
        this.logger.error({ err: error }, 'mail delivery run failed');
        return { sent: 0, retried: 0, failed: 0 };
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits for the current run, if any (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async deliverDue(): Promise<DeliveryCounts> {
    const counts = { sent: 0, retried: 0, failed: 0 };
    for (;;) {
      const em = this.orm.em.fork();
      const now = this.clock.now();
      const due = await em.find(
        OutboxMailSchema,
        {
          sentAt: null,
          failedAt: null,
          nextAttemptAt: { $lte: now },
          $or: [{ lockedUntil: null }, { lockedUntil: { $lt: now } }],
        },
        { orderBy: { nextAttemptAt: 'asc' }, limit: BATCH },
      );
      if (due.length === 0) return counts;
      for (const mail of due) {
        const outcome = await this.deliverOne(mail);
        if (outcome) counts[outcome] += 1;
      }
      if (due.length < BATCH) return counts;
    }
  }

  private async deliverOne(mail: OutboxMail): Promise<keyof DeliveryCounts | undefined> {
    const em = this.orm.em.fork();
    const now = this.clock.now();
    const claimed = await em.nativeUpdate(
      OutboxMailSchema,
      { id: mail.id, sentAt: null, $or: [{ lockedUntil: null }, { lockedUntil: { $lt: now } }] },
      { lockedUntil: addSeconds(now, CLAIM_SECONDS), attempts: mail.attempts + 1 },
    );
    if (claimed !== 1) return undefined;
    const attempts = mail.attempts + 1;
    try {
      await this.transport.send({ id: mail.id, to: mail.recipient, subject: mail.subject, text: mail.textBody ?? '', html: mail.htmlBody });
      await em.nativeUpdate(OutboxMailSchema, { id: mail.id }, { sentAt: this.clock.now(), lockedUntil: null, textBody: null, htmlBody: null, lastError: null });
      return 'sent';
    } catch (error) {
      const message = String((error as Error)?.message ?? error).slice(0, 500);
      this.metrics.mailFailures.inc();
      if (attempts >= this.options.maxAttempts) {
        await em.nativeUpdate(OutboxMailSchema, { id: mail.id }, { failedAt: this.clock.now(), lockedUntil: null, lastError: message, textBody: null, htmlBody: null });
        this.logger.error({ mailId: mail.id, attempts, error: message }, 'mail given up after its last attempt');
        return 'failed';
      }
      const delay = Math.min(this.options.retrySeconds * 2 ** (attempts - 1), MAX_RETRY_SECONDS);
      await em.nativeUpdate(OutboxMailSchema, { id: mail.id }, { nextAttemptAt: addSeconds(this.clock.now(), delay), lockedUntil: null, lastError: message });
      this.logger.warn({ mailId: mail.id, attempts, retryInSeconds: delay, error: message }, 'mail delivery failed; will retry');
      return 'retried';
    }
  }
}
