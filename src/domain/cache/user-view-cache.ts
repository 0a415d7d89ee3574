import type { UserView } from '../users/views.js';
import { BoundedMap } from './bounded-map.js';
import { MAX_AGE_MS, type RecentChanges } from './recent-changes.js';

const CAPACITY = 50_000;

/**
 * Accounts as getMe shows them. Every change to a `users` row goes through Invalidations (a MikroORM subscriber for
 * flushed changes, explicit calls next to each native update), which forgets the account here and on every other
 * instance.
 */
export class UserViewCache {
  private readonly views = new BoundedMap<string, { view: UserView; checkedAt: number }>(CAPACITY);

  constructor(private readonly changes: RecentChanges) {}

  get(userId: string): UserView | undefined {
    const entry = this.views.get(userId);
    if (!entry) return undefined;
    if (performance.now() - entry.checkedAt > MAX_AGE_MS) {
      this.views.delete(userId);
      return undefined;
    }
    return entry.view;
  }

  remember(view: UserView, readStartedAt: number): void {
    if (this.changes.unsettled(`u:${view.id}`, readStartedAt)) return;
    this.views.set(view.id, { view: Object.freeze(view), checkedAt: readStartedAt });
  }

  forget(userId: string): void {
    this.views.delete(userId);
  }

  clear(): void {
    this.views.clear();
  }
}
