import { createHash, createHmac } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { ProblemError } from '../kernel/problem.js';

/**
 * bcrypt reads only the first 72 bytes of its input. To hash long passwords whole, the password is first
 * normalised (NFKC, as NIST SP 800-63B advises) and reduced to a 44-character base64 digest, which bcrypt hashes.
 *
 * The digest is HMAC-SHA256 under a fixed key of this product's own (domain separation, not a secret): a plain
 * SHA-256 would let anyone holding the hashes test SHA-256 values leaked from other sites against them without
 * knowing the passwords ("password shucking"). Such hashes are stored as `hmac-sha256:` + the `$2b$` hash; a bare
 * `$2b$` hash is of the earlier plain SHA-256 scheme, still verified, and redone at the next sign-in (needsRehash).
 */
const PREHASH_KEY = 'pulse-auth:password-prehash:v1';
const CURRENT_SCHEME = 'hmac-sha256:';
/**
 * A bcrypt hash made by another system from the plain password (adminImportUsers, `pulse-auth import-users`). It is
 * verified without the pre-hash, as that system did, so only the first 72 bytes of the password count for it; the
 * first sign-in that matches replaces it with a hash of the current scheme (needsRehash is always true for it).
 */
const FOREIGN_SCHEME = 'foreign-bcrypt:';

/**
 * A bcrypt hash as bcrypt and bcryptjs write it, and nothing else: `$2a$`, `$2b$` or `$2y$`, a two-digit cost of 4 to
 * 31, a 22-character salt and a 31-character digest in bcrypt's base64. The last character of each carries only 2
 * (salt) or 4 (digest) bits, so only some letters can end them: anything else is not a hash bcrypt made.
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]$/;

/** Why `hash` is not a bcrypt hash that can be imported, or null when it is one. */
export function foreignHashProblem(hash: string): string | null {
  if (hash.startsWith('$2x$')) return 'a $2x$ hash (made by crypt_blowfish with its 8-bit bug) cannot be verified reliably';
  if (!/^\$2[aby]\$/.test(hash)) return 'not a bcrypt hash: it must start with $2a$, $2b$ or $2y$';
  if (!/^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$/.test(hash)) return 'the bcrypt cost must be two digits from 04 to 31';
  if (hash.length !== 60) return `a bcrypt hash is 60 characters long, this one is ${hash.length}`;
  if (!BCRYPT_HASH.test(hash)) return 'the salt or digest is not in bcrypt\'s base64 alphabet, or not canonically encoded';
  return null;
}

/** The stored form of a bcrypt hash another system made (see FOREIGN_SCHEME); the hash must pass foreignHashProblem. */
export function storedForeignHash(hash: string): string {
  if (foreignHashProblem(hash) !== null) throw new Error('not an importable bcrypt hash');
  return FOREIGN_SCHEME + hash;
}

export function passwordDigest(password: string): string {
  return createHmac('sha256', PREHASH_KEY).update(password.normalize('NFKC'), 'utf8').digest('base64');
}

/** The earlier scheme's digest, for hashes stored before the HMAC pre-hash. */
const sha256Digest = (password: string) => createHash('sha256').update(password.normalize('NFKC'), 'utf8').digest('base64');

/** The stored form of a password, made on this thread (the decoy; seeding benchmark data). */
export function hashPasswordSync(password: string, cost: number): string {
  return CURRENT_SCHEME + bcrypt.hashSync(passwordDigest(password), cost);
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Whether a stored hash was made with another scheme or cost than the current ones (and should be redone). */
  needsRehash(hash: string): boolean;
  close(): Promise<void>;
}

export type HashTask = { op: 'hash'; password: string; cost: number } | { op: 'verify'; password: string; hash: string };

/** Runs bcrypt off the event loop, on `threads` worker threads (src/infra/hashing-pool.ts). */
export interface HashingPool {
  readonly threads: number;
  run<T>(task: HashTask): Promise<T>;
  close(): Promise<void>;
}

/**
 * bcrypt in a pool of worker threads: a login storm queues there instead of stalling every other request. The queue
 * is bounded (`queue` hashes waiting beyond those running): past it, a request is refused at once with `503
 * server-busy` and a Retry-After of about the time the queue takes to drain, instead of waiting ever longer and
 * making every other sign-in wait with it.
 */
export function queuedPasswordHasher(pool: HashingPool, options: { cost: number; queue?: number }): PasswordHasher {
  const threads = pool.threads;
  // A hash to compare against when there is no user, so that unknown emails take as long as known ones. Making it
  // also says how long one hash takes here, for Retry-After. Made on a hashing thread, not here: at cost 12 it held
  // the event loop (and the start-up) for a quarter of a second.
  let hashMs = 0;
  const started = performance.now();
  const decoy = pool.run<string>({ op: 'hash', password: passwordDigest('decoy password that matches nothing'), cost: options.cost }).then((hash) => {
    hashMs = performance.now() - started;
    return CURRENT_SCHEME + hash;
  });
  // Should it fail, the first sign-in of an unknown email says so; start-up does not wait for it.
  decoy.catch(() => {});
  const capacity = threads + (options.queue ?? Number.POSITIVE_INFINITY);
  let pending = 0;
  async function run<T>(task: HashTask): Promise<T> {
    if (pending >= capacity) {
      const seconds = Math.max(1, Math.ceil(((pending / threads) * (hashMs || 250)) / 1000));
      throw new ProblemError('server-busy', {
        detail: `Too many passwords are being checked at the moment. Try again in ${seconds} seconds.`,
        headers: { 'Retry-After': String(seconds) },
      });
    }
    pending += 1;
    try {
      return await pool.run(task);
    } finally {
      pending -= 1;
    }
  }
  return {
    hash: async (password) => CURRENT_SCHEME + (await run<string>({ op: 'hash', password: passwordDigest(password), cost: options.cost })),
    verify: async (password, stored) => {
      const hash = stored || (await decoy);
      // As the system that made it hashed it: the password as typed (no normalisation), no pre-hash.
      if (hash.startsWith(FOREIGN_SCHEME)) return run<boolean>({ op: 'verify', password, hash: hash.slice(FOREIGN_SCHEME.length) });
      const current = hash.startsWith(CURRENT_SCHEME);
      return run<boolean>({
        op: 'verify',
        password: current ? passwordDigest(password) : sha256Digest(password),
        hash: current ? hash.slice(CURRENT_SCHEME.length) : hash,
      });
    },
    needsRehash: (hash) => !hash.startsWith(CURRENT_SCHEME) || bcrypt.getRounds(hash.slice(CURRENT_SCHEME.length)) !== options.cost,
    close: () => pool.close(),
  };
}
