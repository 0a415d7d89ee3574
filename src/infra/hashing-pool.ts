import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { queuedPasswordHasher, type HashingPool, type PasswordHasher } from '../domain/passwords/hasher.js';

/** bcrypt on piscina worker threads (bcrypt-worker.js); `threads` 0 means one per core. */
export function createHashingPool(threads: number): HashingPool {
  const count = threads > 0 ? threads : availableParallelism();
  const pool = new Piscina({
    filename: new URL('./bcrypt-worker.js', import.meta.url).href,
    minThreads: count,
    maxThreads: count,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  return { threads: count, run: (task) => pool.run(task), close: () => pool.close() };
}

/** The password hasher on a pool of its own: what the server, the CLI and the tests use. */
export function createPasswordHasher(options: { cost: number; threads: number; queue?: number }): PasswordHasher {
  return queuedPasswordHasher(createHashingPool(options.threads), options);
}
