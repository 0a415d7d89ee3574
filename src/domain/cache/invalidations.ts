import type { EntityManager, EventArgs, EventSubscriber } from '@mikro-orm/core';
import { UserSchema, type User } from '../../db/entities.js';
import type { UserView } from '../users/views.js';
import { LiveSessionCache } from './live-session-cache.js';
import { RecentChanges } from './recent-changes.js';
import { UserViewCache } from './user-view-cache.js';

/**
 * Carries `s:<sessionId>` (a session ended, or its active organization changed) and `u:<userId>` (an account, or one
 * of its organization memberships, changed) between instances: PostgreSQL
 * NOTIFY/LISTEN in src/infra/pg-invalidation-channel.ts.
 */
export interface InvalidationChannel {
  /** Sends `message` on the changing transaction's connection: delivered to every instance if, and when, it commits. */
  announce(em: EntityManager, message: string): Promise<void>;
  /** Listens until closed; `state(false)` while messages may be missed (the caches must not be trusted), `state(true)` once they are heard again. */
  listen(handlers: { message(message: string): void; state(listening: boolean): void }): Promise<void>;
  /**
   * true once every message committed before `since` (performance.now()) has been heard; false when that cannot be
   * known (not listening, or no answer in time): then nothing cached may answer.
   */
  caughtUp(since: number): boolean | Promise<boolean>;
  close(): Promise<void>;
}

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
  /** Cache hits and misses, for the metrics. */
  readonly stats = { hits: 0, misses: 0 };

  private constructor(private readonly channel: InvalidationChannel | undefined) {
    // Between instances, the caches wait for the listener before they trust themselves.
    this.enabled = !channel;
  }

  /** Without a channel (SQLite: one instance), local announcements are enough. */
  static async start(channel?: InvalidationChannel): Promise<Invalidations> {
    const invalidations = new Invalidations(channel);
    await channel?.listen({ message: (message) => invalidations.heard(message), state: (listening) => invalidations.setEnabled(listening) });
    return invalidations;
  }

  get cachesOn(): boolean {
    return this.enabled;
  }

  // --- reads -----------------------------------------------------------------------------------------------------
  //
  // A cache answers for a request only once this instance has heard every change committed before the request came
  // (`receivedAt`, performance.now()): a sign-out answered by another instance is then refused here too, however
  // late its notification would otherwise have been handled. On PostgreSQL that costs a round trip on the LISTEN
  // connection, shared by the requests that come meanwhile, and only on a cache hit; without a channel, nothing.

  /**
   * `scope` (`<orgId>:<role>`) for an organization-scoped token: a hit needs the session's scope, as the database
   * last said, to be that one. A membership change announces the user (userChanged), which forgets it everywhere.
   */
  async cachedLiveSession(sessionId: string, userId: string, now: Date, receivedAt: number, scope?: string): Promise<boolean> {
    const hit =
      this.enabled &&
      this.sessions.isLive(sessionId, userId, now, scope) === true &&
      (await this.caughtUp(receivedAt)) &&
      this.sessions.isLive(sessionId, userId, now, scope) === true;
    this.stats[hit ? 'hits' : 'misses'] += 1;
    return hit;
  }

  rememberLiveSession(sessionId: string, userId: string, expiresAt: Date, readStartedAt: number, scope?: string | null): void {
    if (this.enabled) this.sessions.remember(sessionId, userId, expiresAt, readStartedAt, scope);
  }

  async cachedUserView(userId: string, receivedAt: number): Promise<UserView | undefined> {
    const view = this.enabled && this.users.get(userId) !== undefined && (await this.caughtUp(receivedAt)) ? this.users.get(userId) : undefined;
    this.stats[view ? 'hits' : 'misses'] += 1;
    return view;
  }

  private caughtUp(receivedAt: number): boolean | Promise<boolean> {
    if (!this.channel) return true;
    return this.enabled && this.channel.caughtUp(receivedAt);
  }

  rememberUserView(view: UserView, readStartedAt: number): void {
    if (this.enabled) this.users.remember(view, readStartedAt);
  }

  // --- changes ---------------------------------------------------------------------------------------------------

  async sessionEnded(em: EntityManager, sessionId: string): Promise<void> {
    this.heard(`s:${sessionId}`);
    await this.announce(em, `s:${sessionId}`);
  }

  /**
   * A session's organization scope changed (setActiveOrganization): the same message as its end, so that no instance
   * keeps accepting its tokens of the old scope from the cache.
   */
  async sessionChanged(em: EntityManager, sessionId: string): Promise<void> {
    await this.sessionEnded(em, sessionId);
  }

  /** Any change to the account: its row, all of its sessions, or one of its memberships (their organization scope). */
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
    await this.channel?.close();
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
    await this.channel?.announce(em, message);
  }

  private setEnabled(enabled: boolean): void {
    this.sessions.clear();
    this.users.clear();
    this.enabled = enabled;
  }
}
