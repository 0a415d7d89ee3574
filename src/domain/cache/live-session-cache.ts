import { BoundedMap } from './bounded-map.js';
import { MAX_AGE_MS, type RecentChanges } from './recent-changes.js';

const CAPACITY = 50_000;

interface Entry {
  userId: string;
  /** The session's own end (the app clock's time, ms). */
  expiresAt: number;
  /** When the database confirmed it (performance.now()). */
  checkedAt: number;
  /**
   * The organization scope the database confirmed with it (`<orgId>:<role>` of the session's active organization and
   * the user's role there, or null for none); undefined when the read did not look (a token without org claims).
   */
  scope?: string | null;
}

/**
 * Sessions the database said were live a moment ago, so that an authenticated request need not ask it again.
 * Revocation still acts at once: every one goes through Invalidations, which forgets it here and on every other
 * instance. Only "live" is cached; a session found ended is asked about again (it stays ended).
 */
export class LiveSessionCache {
  private readonly live = new BoundedMap<string, Entry>(CAPACITY);

  constructor(private readonly changes: RecentChanges) {}

  /** true: live, by the cache; undefined: ask the database. */
  isLive(sessionId: string, userId: string, now: Date, scope?: string): true | undefined {
    const entry = this.live.get(sessionId);
    if (!entry) return undefined;
    if (scope !== undefined && entry.scope !== scope) return undefined;
    if (entry.userId !== userId || entry.expiresAt <= now.getTime() || performance.now() - entry.checkedAt > MAX_AGE_MS) {
      this.live.delete(sessionId);
      return undefined;
    }
    return true;
  }

  /** Records what the database said; `readStartedAt` is performance.now() from before the query was sent. */
  remember(sessionId: string, userId: string, expiresAt: Date, readStartedAt: number, scope?: string | null): void {
    if (this.changes.unsettled(`s:${sessionId}`, readStartedAt) || this.changes.unsettled(`u:${userId}`, readStartedAt)) return;
    this.live.set(sessionId, { userId, expiresAt: expiresAt.getTime(), checkedAt: readStartedAt, scope });
  }

  forgetSession(sessionId: string): void {
    this.live.delete(sessionId);
  }

  forgetUser(userId: string): void {
    this.live.prune((entry) => entry.userId === userId);
  }

  clear(): void {
    this.live.clear();
  }
}
