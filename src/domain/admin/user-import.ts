import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { PendingRegistrationSchema, UserSchema, type UserRole } from '../../db/entities.js';
import type { Clock } from '../kernel/clock.js';
import type { ProblemCode } from '../kernel/problem.js';
import type { TransactionLocks } from '../kernel/transaction-locks.js';
import { foreignHashProblem, storedForeignHash } from '../passwords/hasher.js';
import { isEmailAddress } from '../users/email-format.js';
import { createUser } from '../users/new-user.js';
import { normaliseEmail } from '../users/views.js';
import { userData, webhookEvents } from '../webhooks/events.js';

/** Rows one call (adminImportUsers) or one batch of the CLI imports at most: one transaction each. */
export const IMPORT_ROWS_PER_CALL = 1000;

export type ImportStatus = 'created' | 'exists' | 'invalid';

export interface ImportRowResult {
  /** The index of the row in the batch, from 0. */
  row: number;
  status: ImportStatus;
  /** As compared (trimmed, lower-cased); for an invalid row, as sent (trimmed); null when it is not a string. */
  email: string | null;
  userId: string | null;
  /** For `invalid`: the problem, and the field of the row it is about (null: the row itself). */
  problem: { code: ProblemCode; detail: string; field: string | null } | null;
}

export type ImportCounts = Record<ImportStatus, number>;

export const countResults = (results: readonly ImportRowResult[]): ImportCounts => {
  const counts: ImportCounts = { created: 0, exists: 0, invalid: 0 };
  for (const result of results) counts[result.status] += 1;
  return counts;
};

interface ValidRow {
  email: string;
  name: string | null;
  emailVerified: boolean;
  role: UserRole | null;
  passwordHash: string | null;
  createdAt: Date | null;
}

const FIELDS = ['email', 'name', 'emailVerified', 'role', 'passwordHash', 'createdAt'];
const CONTROL = /[\x00-\x1F\x7F-\x9F]/;
// RFC 3339, or a timestamp as SQL databases print it (a space for the T, no offset: UTC).
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

class RowProblem {
  constructor(
    readonly field: string | null,
    readonly detail: string,
    readonly code: ProblemCode = 'validation-failed',
  ) {}
}

/** A date from a row: RFC 3339 or `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), a real calendar date, not after `now`. */
export function parseImportedDate(value: string, now: Date): Date | string {
  const match = TIMESTAMP.exec(value.trim());
  if (!match) return 'not a date-time: use RFC 3339 (2024-05-01T09:30:00Z) or "2024-05-01 09:30:00" (UTC)';
  const [, year, month, day, hour, minute, second, fraction = '', offset = 'Z'] = match;
  const wall = Date.UTC(+year, +month - 1, +day, +hour, +minute, +second, Number(fraction.padEnd(3, '0').slice(0, 3)));
  const check = new Date(wall);
  if (check.getUTCFullYear() !== +year || check.getUTCMonth() !== +month - 1 || check.getUTCDate() !== +day || +hour > 23 || +minute > 59 || +second > 59) {
    return 'not a real date and time';
  }
  let shift = 0;
  if (offset.toUpperCase() !== 'Z') {
    const digits = offset.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || '0');
    if (hours > 23 || minutes > 59) return 'the UTC offset is not valid';
    shift = (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  const date = new Date(wall - shift);
  if (date.getTime() > now.getTime()) return 'in the future';
  return date;
}

/** The row as the account it makes, or the first rule it breaks. */
function parseRow(value: unknown, now: Date): ValidRow | RowProblem {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return new RowProblem(null, 'a row must be a JSON object');
  const row = value as Record<string, unknown>;
  const unknown = Object.keys(row).find((key) => !FIELDS.includes(key));
  if (unknown !== undefined) return new RowProblem(unknown.slice(0, 64), `unknown field (the fields are ${FIELDS.join(', ')})`);

  if (typeof row.email !== 'string') return new RowProblem('email', 'missing, or not a string');
  // Checked before lower-casing, as at sign-up: Unicode lower-casing folds some letters onto ASCII ones.
  if (!isEmailAddress(row.email.trim())) return new RowProblem('email', 'not an email address sign-up would accept');

  let name: string | null = null;
  if (row.name !== undefined && row.name !== null) {
    if (typeof row.name !== 'string') return new RowProblem('name', 'not a string');
    const trimmed = row.name.trim();
    if (CONTROL.test(trimmed)) return new RowProblem('name', 'has control characters (line breaks, tabs)');
    if (trimmed.length > 100) return new RowProblem('name', `longer than 100 characters (${trimmed.length})`);
    name = trimmed || null;
  }

  let emailVerified = true;
  if (row.emailVerified !== undefined && row.emailVerified !== null) {
    if (typeof row.emailVerified !== 'boolean') return new RowProblem('emailVerified', 'not true or false');
    emailVerified = row.emailVerified;
  }

  let role: UserRole | null = null;
  if (row.role !== undefined && row.role !== null) {
    if (row.role !== 'user' && row.role !== 'admin') return new RowProblem('role', 'must be "user" or "admin"');
    role = row.role;
  }

  let passwordHash: string | null = null;
  if (row.passwordHash !== undefined && row.passwordHash !== null && row.passwordHash !== '') {
    if (typeof row.passwordHash !== 'string') return new RowProblem('passwordHash', 'not a string', 'invalid-password-hash');
    // Never echoed: the detail says what is wrong with it, not what it is.
    const problem = foreignHashProblem(row.passwordHash);
    if (problem) return new RowProblem('passwordHash', problem, 'invalid-password-hash');
    passwordHash = storedForeignHash(row.passwordHash);
  }

  let createdAt: Date | null = null;
  if (row.createdAt !== undefined && row.createdAt !== null) {
    if (typeof row.createdAt !== 'string') return new RowProblem('createdAt', 'not a string');
    const parsed = parseImportedDate(row.createdAt, now);
    if (typeof parsed === 'string') return new RowProblem('createdAt', parsed);
    createdAt = parsed;
  }

  return { email: normaliseEmail(row.email), name, emailVerified, role, passwordHash, createdAt };
}

const reportedEmail = (value: unknown): string | null => {
  const email = (value as { email?: unknown } | null)?.email;
  // Not lower-cased: that would turn a refused address (with a Kelvin sign) into one that looks fine.
  return typeof email === 'string' ? email.trim().slice(0, 320) : null;
};

/**
 * Accounts from another system (adminImportUsers, `pulse-auth import-users`): each row is checked alone, and the
 * valid ones of a batch are made in one transaction, under the rules of sign-up: the same email format and
 * normalisation, one account per email (an existing one, deleted or not, is left untouched), and the sign-ups of
 * those emails still waiting for their link dropped, with the sign-up's lock of each email held meanwhile. Nothing is
 * mailed. A bcrypt hash of the other system is kept as a foreign hash (see the hasher) until the first sign-in.
 */
export class UserImport {
  constructor(
    private readonly clock: Clock,
    private readonly locks: TransactionLocks,
    private readonly options: { adminEmails: ReadonlySet<string> },
  ) {}

  async importRows(em: EntityManager, rows: readonly unknown[]): Promise<ImportRowResult[]> {
    if (rows.length > IMPORT_ROWS_PER_CALL) throw new RangeError(`at most ${IMPORT_ROWS_PER_CALL} rows at a time`);
    const now = this.clock.now();
    const results: ImportRowResult[] = [];
    const valid: Array<{ index: number; row: ValidRow }> = [];
    rows.forEach((value, index) => {
      const parsed = parseRow(value, now);
      if (parsed instanceof RowProblem) {
        results[index] = {
          row: index,
          status: 'invalid',
          email: reportedEmail(value),
          userId: null,
          problem: { code: parsed.code, detail: parsed.detail, field: parsed.field },
        };
      } else {
        valid.push({ index, row: parsed });
      }
    });
    if (valid.length > 0) {
      const ids = await this.create(em, valid.map(({ row }) => row));
      valid.forEach(({ index, row }, position) => {
        const { userId, created } = ids[position];
        results[index] = { row: index, status: created ? 'created' : 'exists', email: row.email, userId, problem: null };
      });
    }
    return results;
  }

  /**
   * Makes the accounts whose email has none yet, in one transaction; for each row, the account's id and whether this
   * row made it. A sign-up that made one of the accounts meanwhile fails the transaction on the unique email: it is
   * tried again, and that row is then `exists`.
   */
  private async create(em: EntityManager, rows: ValidRow[]): Promise<Array<{ userId: string; created: boolean }>> {
    const emails = [...new Set(rows.map((row) => row.email))].sort();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await em.fork().transactional(async (tx) => {
          // Sorted: two imports of overlapping emails take the locks in the same order.
          for (const email of emails) await this.locks.lock(tx, `pulse-auth:register:${email}`);
          const ids = new Map<string, string>();
          for (let start = 0; start < emails.length; start += 500) {
            const found = await tx.find(UserSchema, { email: { $in: emails.slice(start, start + 500) } }, { fields: ['id', 'email'] });
            for (const user of found) ids.set(user.email, user.id);
          }
          const now = this.clock.now();
          const fresh = emails.filter((email) => !ids.has(email));
          for (let start = 0; start < fresh.length; start += 500) {
            await tx.nativeDelete(PendingRegistrationSchema, { email: { $in: fresh.slice(start, start + 500) } });
          }
          const answers = rows.map((row) => {
            const existing = ids.get(row.email);
            if (existing) return { userId: existing, created: false, user: undefined };
            const user = createUser(tx, {
              email: row.email,
              name: row.name,
              passwordHash: row.passwordHash,
              role: row.role ?? (this.options.adminEmails.has(row.email) ? 'admin' : 'user'),
              emailVerified: row.emailVerified,
              createdAt: row.createdAt ?? now,
              now,
            });
            ids.set(row.email, user.id);
            return { userId: user.id, created: true, user };
          });
          for (const answer of answers) if (answer.user) await webhookEvents.emit(tx, now, 'user.created', userData(answer.user));
          await tx.flush();
          return answers.map(({ userId, created }) => ({ userId, created }));
        });
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException && attempt < 3) continue;
        throw error;
      }
    }
  }
}
