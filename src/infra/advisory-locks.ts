import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { isPostgreSql } from '../db/orm.js';
import type { TransactionLocks } from '../domain/kernel/transaction-locks.js';

/** PostgreSQL transaction-scoped advisory locks, keyed by the hash of the name; nothing on SQLite. */
export const advisoryLocks: TransactionLocks = {
  async lock(tx, name) {
    if (isPostgreSql(tx)) {
      await (tx as SqlEntityManager).execute('select pg_advisory_xact_lock(hashtext(?))', [name]);
    }
  },
};

/** Takes `name` until `tx` (a PostgreSQL transaction) ends, if no one holds it; false, at once, if someone does. */
export async function tryAdvisoryLock(tx: EntityManager, name: string): Promise<boolean> {
  // In the transaction (its context given): on a pooled connection of its own, the lock would end at once.
  const [row] = await tx.getConnection().execute<{ locked: boolean }[]>(
    'select pg_try_advisory_xact_lock(hashtext(?)) as locked',
    [name],
    'all',
    tx.getTransactionContext(),
  );
  return row.locked;
}
