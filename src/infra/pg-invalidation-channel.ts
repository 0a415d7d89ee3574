import type pg from 'pg';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Logger } from 'pino';
import { dialectOf } from '../db/orm.js';
import type { InvalidationChannel } from '../domain/cache/invalidations.js';

/** The PostgreSQL channel that carries the cache invalidations. */
const CHANNEL = 'pulse_auth_invalidations';
const RECONNECT_MS = [250, 1_000, 2_000, 5_000];
/** A catch-up round trip that takes longer than this counts as failed: the caller asks the database instead. */
const CATCH_UP_TIMEOUT_MS = 1_000;

/**
 * NOTIFY on the changing transaction's own connection, which PostgreSQL delivers to every instance when (and only
 * if) it commits; LISTEN on a connection of its own, reconnecting with backoff while it is down.
 */
export class PgInvalidationChannel implements InvalidationChannel {
  private listener?: pg.Client;
  private handlers?: Parameters<InvalidationChannel['listen']>[0];
  private closed = false;
  private reconnectAttempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  /** When the connection was lost (Date.now()), until it is back. */
  private lostAt?: number;
  /** Start (performance.now()) of the latest catch-up round trip that came back on the current connection. */
  private caughtUpThrough = -Infinity;
  private catchingUp?: { startedAt: number; done: Promise<boolean> };
  private nextCatchUp?: Promise<boolean>;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {}

  async announce(em: EntityManager, message: string): Promise<void> {
    await (em as SqlEntityManager).execute('select pg_notify(?, ?)', [CHANNEL, message]);
  }

  async listen(handlers: Parameters<InvalidationChannel['listen']>[0]): Promise<void> {
    this.handlers = handlers;
    await this.connect();
  }

  /**
   * PostgreSQL sends a listening session the notifications committed before a query ahead of that query's answer.
   * So once a round trip on the LISTEN connection that started after `since` has come back, every change committed
   * before `since` has been heard. Callers share round trips: one in flight that started after `since` serves, one
   * that started before it is followed by one more, shared by everyone who waits for it.
   */
  caughtUp(since: number): boolean | Promise<boolean> {
    if (this.caughtUpThrough >= since) return true;
    if (!this.listener) return false;
    if (!this.catchingUp) return this.roundTrip(this.listener);
    if (this.catchingUp.startedAt >= since) return this.catchingUp.done;
    return (this.nextCatchUp ??= this.catchingUp.done.then(() => {
      this.nextCatchUp = undefined;
      return this.caughtUp(since);
    }));
  }

  private roundTrip(client: pg.Client): Promise<boolean> {
    const startedAt = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CATCH_UP_TIMEOUT_MS)));
    const done: Promise<boolean> = Promise.race([client.query('select 1').then(() => this.listener === client), timeout])
      .catch(() => false)
      .then((heard) => {
        if (heard && this.listener === client) this.caughtUpThrough = Math.max(this.caughtUpThrough, startedAt);
        return heard;
      })
      .finally(() => {
        clearTimeout(timer);
        if (this.catchingUp?.done === done) this.catchingUp = undefined;
      });
    this.catchingUp = { startedAt, done };
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const handlers = this.handlers!;
    // pg is imported here, not at the top: a SQLite server imports this module but never opens the channel.
    const { default: postgres } = await import('pg');
    if (this.closed) return;
    const client = new postgres.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000, application_name: 'pulse-auth-listener' });
    this.listener = client;
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.caughtUpThrough = -Infinity;
      handlers.state(false);
      client.end().catch(() => undefined);
      if (this.closed) return;
      // One line when the connection goes, not one per failed attempt: the attempts say nothing new.
      if (this.lostAt === undefined) {
        this.lostAt = Date.now();
        this.logger.warn({ reason: error?.message }, 'the cache invalidation listener lost its connection; authentication asks the database until it is back');
      }
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (notification) => handlers.message(notification.payload ?? ''));
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      return;
    }
    if (this.lostAt !== undefined) {
      this.logger.info({ attempts: this.reconnectAttempt, downMs: Date.now() - this.lostAt }, 'the cache invalidation listener is connected again; caches are back on');
      this.lostAt = undefined;
    }
    this.reconnectAttempt = 0;
    handlers.state(true);
  }

  private scheduleReconnect(): void {
    const delay = RECONNECT_MS[Math.min(this.reconnectAttempt++, RECONNECT_MS.length - 1)];
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
    this.reconnectTimer.unref();
  }
}

/** Instances share a PostgreSQL database and need the channel; SQLite means one instance and none. */
export const invalidationChannelFor = (databaseUrl: string, logger: Logger): InvalidationChannel | undefined =>
  dialectOf(databaseUrl) === 'postgresql' ? new PgInvalidationChannel(databaseUrl, logger) : undefined;
