import pg from 'pg';
import type { EntityManager, EventArgs, EventSubscriber } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { Logger } from 'pino';
import { dialectOf } from '../../db/orm.js';
import { UserSchema, type User } from '../../db/entities.js';
import type { UserView } from '../users/views.js';
import { LiveSessionCache } from './live-session-cache.js';
import { RecentChanges } from './recent-changes.js';
import { UserViewCache } from './user-view-cache.js';

/** The PostgreSQL channel that carries `s:<sessionId>` (a session ended) and `u:<userId>` (an account changed). */
const CHANNEL = 'pulse_auth_invalidations';
const RECONNECT_MS = [250, 1_000, 2_000, 5_000];

/**
 * The authentication path's caches (live sessions, account views) and what keeps them true.
 *
 * Every change they depend on is announced here: locally at once, and on PostgreSQL with NOTIFY on the changing
 * transaction's own connection, which PostgreSQL delivers to every instance when (and only if) it commits. Each
 * instance LISTENs on a connection of its own; while that connection is down the caches are off (every request
 * asks the database) and they come back empty. SQLite means one instance: local announcements are enough.
 */
export class Invalidations {
  private readonly changes = new RecentChanges();
  private readonly sessions = new LiveSessionCache(this.changes);
  private readonly users = new UserViewCache(this.changes);
  private enabled: boolean;
  private listener?: pg.Client;
  private closed = false;
  private reconnectAttempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  /** Cache hits and misses, for the metrics. */
  readonly stats = { hits: 0, misses: 0 };

  private constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly shared: boolean,
  ) {
    // Between instances, the caches wait for the listener before they trust themselves.
    this.enabled = !shared;
  }

  static async start(databaseUrl: string, logger: Logger): Promise<Invalidations> {
    const invalidations = new Invalidations(databaseUrl, logger, dialectOf(databaseUrl) === 'postgresql');
    if (invalidations.shared) await invalidations.listen();
    return invalidations;
  }

  get cachesOn(): boolean {
    return this.enabled;
  }

  // --- reads -----------------------------------------------------------------------------------------------------

  cachedLiveSession(sessionId: string, userId: string, now: Date): boolean {
    const hit = this.enabled && this.sessions.isLive(sessionId, userId, now) === true;
    this.stats[hit ? 'hits' : 'misses'] += 1;
    return hit;
  }

  rememberLiveSession(sessionId: string, userId: string, expiresAt: Date, readStartedAt: number): void {
    if (this.enabled) this.sessions.remember(sessionId, userId, expiresAt, readStartedAt);
  }

  cachedUserView(userId: string): UserView | undefined {
    const view = this.enabled ? this.users.get(userId) : undefined;
    this.stats[view ? 'hits' : 'misses'] += 1;
    return view;
  }

  rememberUserView(view: UserView, readStartedAt: number): void {
    if (this.enabled) this.users.remember(view, readStartedAt);
  }

  // --- changes ---------------------------------------------------------------------------------------------------

  async sessionEnded(em: EntityManager, sessionId: string): Promise<void> {
    this.heard(`s:${sessionId}`);
    await this.announce(em, `s:${sessionId}`);
  }

  /** Any change to the account: its row, or all of its sessions. */
  async userChanged(em: EntityManager, userId: string): Promise<void> {
    this.heard(`u:${userId}`);
    await this.announce(em, `u:${userId}`);
  }

  /** Announces every flushed change to a `users` row (native updates call userChanged themselves). */
  userSubscriber(): EventSubscriber<User> {
    return {
      getSubscribedEntities: () => [UserSchema],
      afterUpdate: (args: EventArgs<User>) => this.userChanged(args.em, args.entity.id),
      afterDelete: (args: EventArgs<User>) => this.userChanged(args.em, args.entity.id),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
  }

  private heard(message: string): void {
    this.changes.mark(message);
    const id = message.slice(2);
    if (message.startsWith('s:')) this.sessions.forgetSession(id);
    else if (message.startsWith('u:')) {
      this.sessions.forgetUser(id);
      this.users.forget(id);
    }
  }

  private async announce(em: EntityManager, message: string): Promise<void> {
    if (!this.shared) return;
    await (em as SqlEntityManager).execute('select pg_notify(?, ?)', [CHANNEL, message]);
  }

  private setEnabled(enabled: boolean): void {
    this.sessions.clear();
    this.users.clear();
    this.enabled = enabled;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000 });
    this.listener = client;
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.setEnabled(false);
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.logger.warn({ reason: error?.message }, 'the cache invalidation listener lost its connection; authentication asks the database until it is back');
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (notification) => this.heard(notification.payload ?? ''));
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      return;
    }
    this.reconnectAttempt = 0;
    this.setEnabled(true);
  }

  private scheduleReconnect(): void {
    const delay = RECONNECT_MS[Math.min(this.reconnectAttempt++, RECONNECT_MS.length - 1)];
    this.reconnectTimer = setTimeout(() => void this.listen(), delay);
    this.reconnectTimer.unref();
  }
}
