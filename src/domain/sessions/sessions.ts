import { webhookEvents, webhookSession } from '../webhooks/events.js';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { RefreshTokenSchema, SessionSchema, type LoginMethod, type OrganizationRole, type Session, type User } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import type { ClientInfo } from '../kernel/actor.js';
import { hashToken, hmac, randomSecret } from '../tokens/secrets.js';
import { SESSION_COLUMNS, USER_COLUMNS, sessionFromRow, userFromRow } from '../../db/rows.js';
import { describeUserAgent } from './user-agent.js';
import { ProblemError } from '../kernel/problem.js';
import type { Invalidations } from '../cache/invalidations.js';

export type RevokeReason =
  | 'logout'
  | 'logout-all'
  | 'revoked-by-user'
  | 'refresh-token-reuse'
  | 'password-reset'
  | 'password-change'
  | 'account-deleted'
  | 'locked-by-admin'
  | 'revoked-by-admin';

/** How session.revoked names each reason (the spec's SessionRevokedEventData). */
const WEBHOOK_REASONS = {
  logout: 'logout',
  'logout-all': 'logout-all',
  'revoked-by-user': 'revoked',
  'refresh-token-reuse': 'refresh-token-reuse',
  'password-reset': 'password-reset',
  'password-change': 'password-changed',
  'account-deleted': 'deleted',
  'locked-by-admin': 'admin',
  'revoked-by-admin': 'admin',
} as const satisfies Record<RevokeReason, string>;

export interface IssuedSession {
  session: Session;
  user: User;
  refreshToken: string;
  /** The session's active organization and the user's role in it now: the access token's `org_id` and `org_role`. */
  organization?: { id: string; role: OrganizationRole } | null;
}

const ORGANIZATION_ROLES: readonly string[] = ['owner', 'admin', 'member'];

function sessionDevice(userAgent: string | null) {
  const { deviceType, browser, os } = describeUserAgent(userAgent);
  return { deviceType, browser, os };
}

type Row = Record<string, unknown>;

const invalidRefreshToken = (detail: string) => new ProblemError('invalid-refresh-token', { detail });

/** Replays of a rotated token this close to its first replay are taken as sent together with it: one replay. */
const REPLAY_BURST_MS = 2_000;

const asDate = (value: unknown) => (value === null || value === undefined ? null : new Date(value as number | Date));

/**
 * Sessions and their refresh-token chains.
 *
 * A refresh token is 256 random bits; each successor is HMAC(session secret, presented token). Only hashes are
 * stored, yet presenting a just-rotated token within the grace window yields the very same successor again,
 * which is what lets two tabs refresh at once. The window admits one replay per rotated token: the first replay
 * claims it (`replayed_at`, by a conditional update, so that one claim wins however many race), and replays
 * within REPLAY_BURST_MS of it count as the same one (several requests or tabs sent together, as when 50 refresh
 * at once). Any other presentation of a rotated token, a second replay within the window or one after it, is
 * reuse: the session ends.
 */
export class Sessions {
  constructor(
    private readonly clock: Clock,
    private readonly invalidations: Invalidations,
    private readonly options: { refreshTtlSeconds: number; reuseGraceSeconds: number },
  ) {}

  async start(em: EntityManager, user: User, client: ClientInfo, method: LoginMethod = 'password'): Promise<IssuedSession> {
    const now = this.clock.now();
    const refreshToken = randomSecret();
    const session = em.create(SessionSchema, {
      id: randomUUID(),
      userId: user.id,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: addSeconds(now, this.options.refreshTtlSeconds),
      revokedAt: null,
      revokedReason: null,
      ip: client.ip,
      userAgent: client.userAgent,
      ...sessionDevice(client.userAgent),
      refreshSecret: randomSecret(),
      activeOrganizationId: null,
    });
    em.create(RefreshTokenSchema, {
      id: randomUUID(),
      sessionId: session.id,
      tokenHash: hashToken(refreshToken),
      createdAt: now,
      rotatedAt: null,
      replayedAt: null,
    });
    await webhookEvents.emit(em, now, 'session.created', { session: webhookSession(session), method });
    await em.flush();
    return { session, user, refreshToken };
  }

  /**
   * Exchanges a refresh token for its successor. The hottest write of every client app, so in plain SQL (see
   * db/rows.ts): five statements in one transaction.
   */
  async rotate(em: EntityManager, presented: string): Promise<IssuedSession> {
    const now = this.clock.now();
    const outcome = await em.transactional(async (tx) => {
      const db = tx as SqlEntityManager;
      const token = await db.execute<Row>('select id, rotated_at, session_id from refresh_tokens where token_hash = ?', [hashToken(presented)], 'get');
      if (!token) return { error: 'The refresh token is unknown.' } as const;
      const sessionRow = await db.execute<Row>(
        `select ${SESSION_COLUMNS} from sessions where id = ? and revoked_at is null and expires_at > ?`,
        [token.session_id, now],
        'get',
      );
      if (!sessionRow) return { error: 'The session has ended.' } as const;
      const session = sessionFromRow(sessionRow);
      const userRow = await db.execute<Row>(
        `select ${USER_COLUMNS} from users where id = ? and deleted_at is null and locked_at is null and email_verified = ?`,
        [session.userId, true],
        'get',
      );
      if (!userRow) return { error: 'The session has ended.' } as const;
      const user = userFromRow(userRow);
      const successor = hmac(session.refreshSecret, presented);

      let rotatedAt = asDate(token.rotated_at);
      if (rotatedAt === null) {
        // Only one of several concurrent rotations wins this update; the others take the grace path below.
        const won = await db.execute<{ affectedRows: number }>('update refresh_tokens set rotated_at = ? where id = ? and rotated_at is null', [now, token.id], 'run');
        if (won.affectedRows === 1) {
          await db.execute(
            'insert into refresh_tokens (id, session_id, token_hash, created_at, rotated_at) values (?, ?, ?, ?, null)',
            [randomUUID(), session.id, hashToken(successor), now],
            'run',
          );
          await db.execute('update sessions set last_active_at = ? where id = ?', [now, session.id], 'run');
          session.lastActiveAt = now;
          return { session, user, refreshToken: successor, organization: await this.scopeOf(db, session) } as const;
        }
        rotatedAt = asDate((await db.execute<Row>('select rotated_at from refresh_tokens where id = ?', [token.id], 'get'))?.rotated_at) ?? now;
      }
      if (now.getTime() - rotatedAt.getTime() > this.options.reuseGraceSeconds * 1000) return { reuse: session.id } as const;
      // Within the grace window: the token's one replay (see the class comment).
      const claimed = await db.execute<{ affectedRows: number }>('update refresh_tokens set replayed_at = ? where id = ? and replayed_at is null', [now, token.id], 'run');
      if (claimed.affectedRows !== 1) {
        const replayedAt = asDate((await db.execute<Row>('select replayed_at from refresh_tokens where id = ?', [token.id], 'get'))?.replayed_at);
        if (!replayedAt || Math.abs(now.getTime() - replayedAt.getTime()) > REPLAY_BURST_MS) return { reuse: session.id } as const;
      }
      return { session, user, refreshToken: successor, organization: await this.scopeOf(db, session) } as const;
    });

    if ('reuse' in outcome) {
      await this.revoke(em, outcome.reuse!, 'refresh-token-reuse');
      throw invalidRefreshToken('The refresh token was already used; the session has ended.');
    }
    if ('error' in outcome) throw invalidRefreshToken(outcome.error!);
    return outcome;
  }

  /**
   * The live session a refresh token belongs to (for sign-out by refresh token). Only the chain's current token, or
   * one rotated within the grace window, names its session: a token rotated before that is a replay, exactly as in
   * `rotate`, and ends the session (whoever presents an old token must not be taken for its owner).
   */
  async findByRefreshToken(em: EntityManager, presented: string): Promise<Session | null> {
    const token = await em.findOne(RefreshTokenSchema, { tokenHash: hashToken(presented) });
    if (!token) return null;
    const now = this.clock.now();
    if (token.rotatedAt && now.getTime() - token.rotatedAt.getTime() > this.options.reuseGraceSeconds * 1000) {
      await this.revoke(em, token.sessionId, 'refresh-token-reuse');
      return null;
    }
    return this.liveSession(em, token.sessionId, now);
  }

  /**
   * Whether the session is live: from the cache when it was confirmed lately (and nothing committed before the
   * request, received at `receivedAt` (performance.now()), says otherwise), else from the database.
   */
  async isActive(
    em: EntityManager,
    sessionId: string,
    userId: string,
    receivedAt = performance.now(),
    organization?: { id: string; role: OrganizationRole },
  ): Promise<boolean> {
    const now = this.clock.now();
    if (organization) return this.isActiveIn(em, sessionId, userId, receivedAt, organization);
    if (await this.invalidations.cachedLiveSession(sessionId, userId, now, receivedAt)) return true;
    const checkStartedAt = performance.now();
    const session = await em.findOne(SessionSchema, { id: sessionId, userId, revokedAt: null, expiresAt: { $gt: now } }, { fields: ['id', 'expiresAt'] });
    if (!session) return false;
    this.invalidations.rememberLiveSession(sessionId, userId, session.expiresAt, checkStartedAt);
    return true;
  }

  /**
   * isActive for an organization-scoped token: the session must be live, its active organization the token's, and the
   * user's role there (the membership as it is now) the token's `org_role`. One statement; cached like isActive.
   */
  private async isActiveIn(em: EntityManager, sessionId: string, userId: string, receivedAt: number, organization: { id: string; role: OrganizationRole }) {
    const now = this.clock.now();
    const wanted = `${organization.id}:${organization.role}`;
    if (await this.invalidations.cachedLiveSession(sessionId, userId, now, receivedAt, wanted)) return true;
    const checkStartedAt = performance.now();
    const row = await (em as SqlEntityManager).execute<Row>(
      `select s.expires_at, s.active_organization_id, m.role from sessions s
         left join memberships m on m.organization_id = s.active_organization_id and m.user_id = s.user_id
        where s.id = ? and s.user_id = ? and s.revoked_at is null and s.expires_at > ?`,
      [sessionId, userId, now],
      'get',
    );
    if (!row) return false;
    const scope = row.active_organization_id && row.role ? `${String(row.active_organization_id)}:${String(row.role)}` : null;
    this.invalidations.rememberLiveSession(sessionId, userId, asDate(row.expires_at)!, checkStartedAt, scope);
    return scope === wanted;
  }

  /** The session's active organization and the user's current role there; null when none (or no longer a member). */
  private async scopeOf(db: SqlEntityManager, session: Session): Promise<IssuedSession['organization']> {
    if (!session.activeOrganizationId) return null;
    const row = await db.execute<Row>('select role from memberships where organization_id = ? and user_id = ?', [session.activeOrganizationId, session.userId], 'get');
    const role = row ? String(row.role) : undefined;
    return role && ORGANIZATION_ROLES.includes(role) ? { id: session.activeOrganizationId, role: role as OrganizationRole } : null;
  }

  async revoke(em: EntityManager, sessionId: string, reason: RevokeReason): Promise<void> {
    await em.transactional(async (tx) => {
      const now = this.clock.now();
      const live = await tx.findOne(SessionSchema, { id: sessionId, revokedAt: null }, { fields: ['id', 'userId'] });
      const ended = await tx.nativeUpdate(SessionSchema, { id: sessionId, revokedAt: null }, { revokedAt: now, revokedReason: reason });
      if (live && ended === 1) await this.revoked(tx, now, live.userId, [sessionId], reason);
    });
    // After the commit (or in the caller's transaction, as before): a cache refilled in between would read the old row.
    await this.invalidations.sessionEnded(em, sessionId);
  }

  /** The session.revoked event, written with the revocation. */
  private async revoked(em: EntityManager, now: Date, userId: string, sessionIds: string[], reason: RevokeReason): Promise<void> {
    if (sessionIds.length === 0) return;
    await webhookEvents.emit(em, now, 'session.revoked', { userId, sessionIds, reason: WEBHOOK_REASONS[reason] });
    await em.flush();
  }

  /** Ends every live session of the user, or every one but `except`. Returns how many ended. */
  async revokeAllOf(em: EntityManager, userId: string, reason: RevokeReason, options: { except?: string } = {}): Promise<number> {
    const ended = await em.transactional(async (tx) => {
      const now = this.clock.now();
      const where = { userId, revokedAt: null, ...(options.except ? { id: { $ne: options.except } } : {}) };
      const live = await tx.find(SessionSchema, { ...where, expiresAt: { $gt: now } }, { fields: ['id'] });
      const count = await tx.nativeUpdate(SessionSchema, where, { revokedAt: now, revokedReason: reason });
      await this.revoked(tx, now, userId, live.map((session) => session.id), reason);
      return count;
    });
    // The whole user is forgotten, `except` included: it is simply checked against the database again.
    await this.invalidations.userChanged(em, userId);
    return ended;
  }

  /** The user's live sessions, most recently active first. */
  async listLive(em: EntityManager, userId: string): Promise<Session[]> {
    return em.find(
      SessionSchema,
      { userId, revokedAt: null, expiresAt: { $gt: this.clock.now() } },
      { orderBy: { lastActiveAt: 'desc', id: 'asc' } },
    );
  }

  /** Ends one live session of the user; false when the user has no such live session. */
  async revokeOwn(em: EntityManager, userId: string, sessionId: string): Promise<boolean> {
    return em.transactional(async (tx) => {
      const now = this.clock.now();
      const ended = await tx.nativeUpdate(
        SessionSchema,
        { id: sessionId, userId, revokedAt: null, expiresAt: { $gt: now } },
        { revokedAt: now, revokedReason: 'revoked-by-user' },
      );
      if (ended === 1) await this.revoked(tx, now, userId, [sessionId], 'revoked-by-user');
      return ended === 1;
    }).finally(() => this.invalidations.sessionEnded(em, sessionId));
  }

  private liveSession(em: EntityManager, sessionId: string, now: Date) {
    return em.findOne(
      SessionSchema,
      { id: sessionId, revokedAt: null, expiresAt: { $gt: now } },
      { populate: ['refreshSecret'] },
    );
  }
}
