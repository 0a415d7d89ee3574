import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new random secret: 32 bytes (256 bits), base64url. */
export const randomSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/**
 * The hash a single-use token is stored under. Tokens are 256-bit random values, so a fast hash is enough: there is
 * nothing to brute-force, and lookups by hash need no per-row salt.
 */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export const hmac = (key: string, message: string): string =>
  createHmac('sha256', key).update(message, 'utf8').digest('base64url');

/** Compares two strings in time that depends only on their length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
