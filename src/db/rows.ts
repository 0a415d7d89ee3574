import type { Session, User } from './entities.js';

/**
 * Rows read with plain SQL on the hot paths (getMe, refreshTokens), turned into what MikroORM would have made:
 * building a query through MikroORM costs about ten times running it. SQLite gives dates as epoch milliseconds and
 * booleans as 0/1; PostgreSQL gives Date and boolean: both go through Date and Boolean.
 */
type Row = Record<string, unknown>;

const date = (value: unknown) => new Date(value as number | string | Date);
const dateOrNull = (value: unknown) => (value === null || value === undefined ? null : date(value));
const textOrNull = (value: unknown) => (value === null || value === undefined ? null : String(value));

/** Every column but the secrets (password hash, TOTP secret), which stay lazy as in the entity. */
export const USER_COLUMNS =
  'id, email, name, role, email_verified, created_at, updated_at, deleted_at, locked_at, totp_enabled_at, totp_last_step, email_otp_enabled_at';

export function userFromRow(row: Row): User {
  return {
    id: String(row.id),
    email: String(row.email),
    name: textOrNull(row.name),
    passwordHash: null,
    role: row.role === 'admin' ? 'admin' : 'user',
    emailVerified: Boolean(row.email_verified),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    deletedAt: dateOrNull(row.deleted_at),
    lockedAt: dateOrNull(row.locked_at),
    totpSecret: null,
    totpEnabledAt: dateOrNull(row.totp_enabled_at),
    totpLastStep: row.totp_last_step === null || row.totp_last_step === undefined ? null : Number(row.totp_last_step),
    emailOtpEnabledAt: dateOrNull(row.email_otp_enabled_at),
  };
}

export const SESSION_COLUMNS =
  'id, user_id, created_at, last_active_at, expires_at, revoked_at, revoked_reason, ip, user_agent, device_type, browser, os, refresh_secret, active_organization_id';

export function sessionFromRow(row: Row): Session {
  return {
    id: String(row.id),
    userId: String(row.user_id),
    createdAt: date(row.created_at),
    lastActiveAt: date(row.last_active_at),
    expiresAt: date(row.expires_at),
    revokedAt: dateOrNull(row.revoked_at),
    revokedReason: textOrNull(row.revoked_reason),
    ip: textOrNull(row.ip),
    userAgent: textOrNull(row.user_agent),
    deviceType: String(row.device_type) as Session['deviceType'],
    browser: textOrNull(row.browser),
    os: textOrNull(row.os),
    refreshSecret: String(row.refresh_secret),
    activeOrganizationId: textOrNull(row.active_organization_id),
  };
}
