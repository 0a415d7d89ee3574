/**
 * Keys (`s:<sessionId>`, `u:<userId>`) that changed lately, so that a cache does not store what a database read
 * returned around a change. Two races are closed by refusing anything that changed within SETTLE_MS:
 * - a read that started just before a change committed and finishes after the change was announced;
 * - a read that runs after the announcement but before the changing transaction commits (changes announce
 *   themselves from inside their transaction, and other instances hear of them at once).
 */
const SETTLE_MS = 10_000;

export class RecentChanges {
  private readonly changedAt = new Map<string, number>();

  mark(key: string): void {
    const now = performance.now();
    this.changedAt.set(key, now);
    if (this.changedAt.size > 10_000) for (const [other, at] of this.changedAt) if (at <= now - SETTLE_MS) this.changedAt.delete(other);
  }

  /** Whether `key` changed after, or less than SETTLE_MS before, a read that started at `readStartedAt`. */
  unsettled(key: string, readStartedAt: number): boolean {
    const at = this.changedAt.get(key);
    return at !== undefined && at > readStartedAt - SETTLE_MS;
  }
}

/** How long an entry is trusted at most, whatever happens: a bound on any staleness nothing announced. */
export const MAX_AGE_MS = 30_000;
