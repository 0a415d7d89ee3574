import type { EntityManager } from '@mikro-orm/core';

/** Named locks held until the caller's transaction ends (PostgreSQL advisory locks: src/infra/advisory-locks.ts). */
export interface TransactionLocks {
  /**
   * Waits until no other transaction holds `name`, then holds it until `tx` ends: transactions that take the same
   * name take turns. A no-op where transactions take turns already (SQLite has one writer).
   */
  lock(tx: EntityManager, name: string): Promise<void>;
}
