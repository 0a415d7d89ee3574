import { readFileSync } from 'node:fs';
import { ProblemError } from '../kernel/problem.js';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

const commonPasswords = new Set(
  readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('#')),
);

/**
 * NIST SP 800-63B: length limits counted in characters after NFKC normalisation, any characters, no composition
 * rules, and no password from a list of commonly used ones. Returns the reason a password is refused, if any.
 */
export function passwordWeakness(password: string): string | undefined {
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  if (length < PASSWORD_MIN_LENGTH) return `The password must be at least ${PASSWORD_MIN_LENGTH} characters long.`;
  if (length > PASSWORD_MAX_LENGTH) return `The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`;
  if (commonPasswords.has(normalised.toLowerCase())) return 'This password is on the list of commonly used passwords.';
  return undefined;
}

export function assertStrongPassword(password: string, pointer = '/body/password'): void {
  const weakness = passwordWeakness(password);
  if (weakness) throw new ProblemError('weak-password', { detail: weakness, errors: [{ pointer, detail: weakness }] });
}
