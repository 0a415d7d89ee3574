import type { EntitySchema, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';

/**
 * The one outbox mechanism behind mail and webhook deliveries. A message is a row written in the transaction of the
 * change that causes it; a worker on every instance claims due rows, hands each to the queue's `deliver`, and marks
 * it done, schedules a retry with exponential backoff, or gives up after `maxAttempts`.
 *
 * Claiming is one `update … where id in (select … limit n [for update skip locked]) returning id`: on PostgreSQL
 * the `skip locked` lets instances claim side by side without waiting on or taking each other's rows; SQLite runs the
 * statement alone (one writer). A claim holds a row for `claimSeconds` (`locked_until`) and counts the attempt up
 * front, so a process that dies mid-delivery leaves a row that any instance retries once the claim runs out.
 */
export interface OutboxRow {
  id: string;
  attempts: number;
}

/** `record`: more columns to write with the outcome, in the same statement (the last response status). */
export type DeliveryOutcome = ({ ok: true } | { ok: false; error: string; retryable?: boolean }) & { record?: Record<string, unknown> };

export interface OutboxQueue<Row extends OutboxRow> {
  /** Names the queue in log lines. */
  name: string;
  entity: EntitySchema<Row>;
  table: string;
  /** The column and property set once delivered, and once given up. */
  done: { column: string; property: keyof Row & string };
  failed: { column: string; property: keyof Row & string };
  /** SQL order of the claim (rows aliased `m`). */
  order: string;
  /** More SQL conditions a row must meet to be claimed (aliased `m`), with their parameters. */
  condition?: { sql: string; params: unknown[] };
  batch: number;
  /** Deliver claimed rows one after another (mail: one SMTP connection) or all at once (webhooks: one per endpoint). */
  parallel: boolean;
  deliver(row: Row, attempt: number): Promise<DeliveryOutcome>;
  /** Columns cleared or set with each final state (mail drops its bodies). */
  onDone?: Partial<Row>;
  onFailed?: Partial<Row>;
  /** After each outcome (metrics, logs). */
  observe?(outcome: keyof DeliveryCounts, row: Row, attempt: number, error?: string): void;
}

export interface OutboxOptions {
  maxAttempts: number;
  /** The first retry's delay; each next one doubles, up to maxRetrySeconds. */
  retrySeconds: number;
  maxRetrySeconds: number;
  claimSeconds: number;
}

export interface DeliveryCounts {
  sent: number;
  retried: number;
  failed: number;
}

const seconds = (date: Date, s: number) => new Date(date.getTime() + s * 1000);

export class OutboxWorker<Row extends OutboxRow> {
  private running?: Promise<DeliveryCounts>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly postgres: boolean;

  constructor(
    private readonly orm: MikroORM,
    private readonly queue: OutboxQueue<Row>,
    private readonly clock: { now(): Date },
    private readonly logger: Logger,
    private readonly options: OutboxOptions,
  ) {
    this.postgres = orm.em.getPlatform().constructor.name.toLowerCase().includes('postgre');
  }

  /** Starts a delivery run soon (after a commit that queued a message). Never throws. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .catch((error) => {
        this.logger.error({ err: error, queue: this.queue.name }, 'outbox delivery run failed');
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

  /** Kicks every `intervalMs` too: retries that fall due, rows other instances queued, rows left by a restart. */
  poll(intervalMs: number): void {
    clearInterval(this.timer);
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
  }

  /** Stops polling and waits for the current run (shutdown, tests). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.idle();
  }

  /**
   * Waits for the current run and the one asked for meanwhile, if any: what was queued before the call is then sent
   * (or retried later). Not `while (running)`: with polling, runs can follow each other without a gap.
   */
  async idle(): Promise<void> {
    for (let runs = 0; runs < 2 && this.running; runs += 1) await this.running;
  }

  async deliverDue(): Promise<DeliveryCounts> {
    const counts = { sent: 0, retried: 0, failed: 0 };
    for (;;) {
      const claimed = await this.claim();
      if (claimed.length === 0) return counts;
      const deliverOne = async (row: Row) => {
        const outcome = await this.deliverOne(row);
        counts[outcome] += 1;
      };
      if (this.queue.parallel) await Promise.all(claimed.map(deliverOne));
      else for (const row of claimed) await deliverOne(row);
      if (this.stopped) return counts;
    }
  }

  /** Claims up to `batch` due rows and returns them with the claimed attempt counted. */
  async claim(): Promise<Row[]> {
    const { table, done, failed, order, condition, batch } = this.queue;
    const now = this.clock.now();
    const em = this.orm.em.fork();
    const sql =
      `update ${table} set locked_until = ?, attempts = attempts + 1 where id in (` +
      `select m.id from ${table} m where m.${done.column} is null and m.${failed.column} is null and m.next_attempt_at <= ? ` +
      `and (m.locked_until is null or m.locked_until < ?)${condition ? ` and ${condition.sql}` : ''} ` +
      `order by ${order} limit ${Number(batch)}${this.postgres ? ' for update skip locked' : ''}) returning id`;
    const params = [seconds(now, this.options.claimSeconds), now, now, ...(condition?.params ?? [])];
    const rows = (await em.getConnection().execute(sql, params, 'all')) as { id: string }[];
    if (rows.length === 0) return [];
    const found = (await em.find(this.queue.entity, { id: { $in: rows.map((row) => row.id) } } as never)) as Row[];
    const byId = new Map(found.map((row: Row) => [row.id, row]));
    return rows.map((row) => byId.get(row.id)).filter((row): row is Row => row !== undefined);
  }

  private async deliverOne(row: Row): Promise<keyof DeliveryCounts> {
    const attempt = row.attempts;
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.queue.deliver(row, attempt);
    } catch (error) {
      outcome = { ok: false, error: String((error as Error)?.message ?? error) };
    }
    const em = this.orm.em.fork();
    const entity = this.queue.entity;
    const now = this.clock.now();
    const record = outcome.record ?? {};
    if (outcome.ok) {
      await em.nativeUpdate(entity, { id: row.id } as never, { ...record, [this.queue.done.property]: now, lockedUntil: null, ...this.queue.onDone } as never);
      this.queue.observe?.('sent', row, attempt);
      return 'sent';
    }
    const error = outcome.error.slice(0, 500);
    if (attempt >= this.options.maxAttempts || outcome.retryable === false) {
      await em.nativeUpdate(entity, { id: row.id } as never, { ...record, [this.queue.failed.property]: now, lockedUntil: null, lastError: error, ...this.queue.onFailed } as never);
      this.logger.error({ queue: this.queue.name, id: row.id, attempts: attempt, error }, 'outbox message given up after its last attempt');
      this.queue.observe?.('failed', row, attempt, error);
      return 'failed';
    }
    const delay = Math.min(this.options.retrySeconds * 2 ** (attempt - 1), this.options.maxRetrySeconds);
    await em.nativeUpdate(entity, { id: row.id } as never, { ...record, nextAttemptAt: seconds(now, delay), lockedUntil: null, lastError: error } as never);
    this.logger.warn({ queue: this.queue.name, id: row.id, attempts: attempt, retryInSeconds: delay, error }, 'outbox delivery failed; will retry');
    this.queue.observe?.('retried', row, attempt, error);
    return 'retried';
  }
}
