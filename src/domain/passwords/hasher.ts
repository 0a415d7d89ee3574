import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import bcrypt from 'bcryptjs';

/**
 * bcrypt reads only the first 72 bytes of its input. To hash long passwords whole, the password is first
 * normalised (NFKC, as NIST SP 800-63B advises) and reduced with SHA-256; bcrypt then hashes the 44-character
 * base64 digest. The stored value is a standard `$2b$` hash of that digest.
 */
export function passwordDigest(password: string): string {
  return createHash('sha256').update(password.normalize('NFKC'), 'utf8').digest('base64');
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Whether a stored hash was made with a cost other than the configured one (and should be redone). */
  needsRehash(hash: string): boolean;
  close(): Promise<void>;
}

/** bcrypt in a pool of worker threads: a login storm queues there instead of stalling every other request. */
export function createPasswordHasher(options: { cost: number; threads: number }): PasswordHasher {
  const threads = options.threads > 0 ? options.threads : availableParallelism();
  const pool = new Piscina({
    filename: new URL('./bcrypt-worker.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  // A hash to compare against when there is no user, so that unknown emails take as long as known ones.
  const decoy = bcrypt.hashSync(passwordDigest('decoy password that matches nothing'), options.cost);
  return {
    hash: (password) => pool.run({ op: 'hash', password: passwordDigest(password), cost: options.cost }),
    verify: (password, hash) => pool.run({ op: 'verify', password: passwordDigest(password), hash: hash || decoy }),
    needsRehash: (hash) => bcrypt.getRounds(hash) !== options.cost,
    close: () => pool.close(),
  };
}
