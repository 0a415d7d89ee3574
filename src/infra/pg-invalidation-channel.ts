import pg from 'pg';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Logger } from 'pino';
import { dialectOf } from '../db/orm.js';
import type { InvalidationChannel } from '../domain/cache/invalidations.js';

/** The PostgreSQL channel that carries the cache invalidations. */
const CHANNEL = 'pulse_auth_invalidations';
const RECONNECT_MS = [250, 1_000, 2_000, 5_000];

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

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const handlers = this.handlers!;
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000 });
    this.listener = client;
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      handlers.state(false);
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.logger.warn({ reason: error?.message }, 'the cache invalidation listener lost its connection; authentication asks the database until it is back');
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
