import { EntitySchema } from '@mikro-orm/core';

/**
 * The tables. Plain interfaces plus EntitySchema (no decorators: tsx emits no decorator metadata).
 * Column names are snake_case (MikroORM's default naming strategy).
 */

export type UserRole = 'user' | 'admin';

/** A verified account. Unverified sign-ups live in PendingRegistration until their email is confirmed. */
export interface User {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string | null;
  role: UserRole;
  emailVerified: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Set by a soft delete; the purge job removes the account DELETION_GRACE_DAYS later. */
  deletedAt: Date | null;
}

export const UserSchema = new EntitySchema<User>({
  name: 'User',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'string', length: 254, unique: true },
    name: { type: 'string', length: 100, nullable: true },
    passwordHash: { type: 'string', length: 100, nullable: true, lazy: true },
    role: { type: 'string', length: 16, default: 'user' },
    emailVerified: { type: 'boolean', default: true },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
    deletedAt: { type: 'datetime', nullable: true, index: true },
  },
});

/** A sign-up waiting for its email to be confirmed. The email is not unique here: the newest row wins. */
export interface PendingRegistration {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
}

export const PendingRegistrationSchema = new EntitySchema<PendingRegistration>({
  name: 'PendingRegistration',
  tableName: 'pending_registrations',
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'string', length: 254, index: true },
    name: { type: 'string', length: 100, nullable: true },
    passwordHash: { type: 'string', length: 100 },
    tokenHash: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'datetime' },
    expiresAt: { type: 'datetime', index: true },
  },
});

export type DeviceType = 'desktop' | 'mobile' | 'tablet' | 'tv' | 'bot' | 'unknown';

/** One signed-in device. Its refresh tokens form a chain in RefreshToken. */
export interface Session {
  id: string;
  userId: string;
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
  deviceType: DeviceType;
  browser: string | null;
  os: string | null;
  /** Key that derives each refresh token's successor from it (see domain/tokens/refresh-tokens.ts). */
  refreshSecret: string;
}

export const SessionSchema = new EntitySchema<Session>({
  name: 'Session',
  tableName: 'sessions',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    createdAt: { type: 'datetime' },
    lastActiveAt: { type: 'datetime' },
    expiresAt: { type: 'datetime', index: true },
    revokedAt: { type: 'datetime', nullable: true, index: true },
    revokedReason: { type: 'string', length: 32, nullable: true },
    ip: { type: 'string', length: 45, nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    deviceType: { type: 'string', length: 16 },
    browser: { type: 'string', length: 64, nullable: true },
    os: { type: 'string', length: 64, nullable: true },
    refreshSecret: { type: 'string', length: 64, lazy: true },
  },
});

/** Every refresh token a session has been given, by hash. A rotated one presented again betrays reuse. */
export interface RefreshToken {
  id: string;
  sessionId: string;
  tokenHash: string;
  createdAt: Date;
  rotatedAt: Date | null;
}

export const RefreshTokenSchema = new EntitySchema<RefreshToken>({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    sessionId: { type: 'uuid', index: true },
    tokenHash: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'datetime' },
    rotatedAt: { type: 'datetime', nullable: true },
  },
});

/** A single-use password-reset link, stored by hash. */
export interface PasswordResetToken {
  id: string;
  userId: string;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

export const PasswordResetTokenSchema = new EntitySchema<PasswordResetToken>({
  name: 'PasswordResetToken',
  tableName: 'password_reset_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    tokenHash: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'datetime' },
    expiresAt: { type: 'datetime', index: true },
    usedAt: { type: 'datetime', nullable: true },
  },
});

/** A key pair that signs access tokens. Published in the JWKS from `createdAt` until `retiresAt`. */
export interface SigningKey {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  privateJwk: Record<string, unknown>;
  createdAt: Date;
  retiresAt: Date | null;
}

export const SigningKeySchema = new EntitySchema<SigningKey>({
  name: 'SigningKey',
  tableName: 'signing_keys',
  properties: {
    kid: { type: 'string', length: 64, primary: true },
    alg: { type: 'string', length: 16 },
    publicJwk: { type: 'json' },
    privateJwk: { type: 'json', lazy: true },
    createdAt: { type: 'datetime' },
    retiresAt: { type: 'datetime', nullable: true },
  },
});

/** A mail waiting for delivery; written in the same transaction as the change that causes it. */
export interface OutboxMail {
  id: string;
  recipient: string;
  subject: string;
  /** Cleared once delivered: bodies can carry single-use links. */
  textBody: string | null;
  htmlBody: string | null;
  createdAt: Date;
  attempts: number;
  nextAttemptAt: Date;
  lockedUntil: Date | null;
  sentAt: Date | null;
  failedAt: Date | null;
  lastError: string | null;
}

export const OutboxMailSchema = new EntitySchema<OutboxMail>({
  name: 'OutboxMail',
  tableName: 'mail_outbox',
  properties: {
    id: { type: 'uuid', primary: true },
    recipient: { type: 'string', length: 254 },
    subject: { type: 'string', length: 200 },
    textBody: { type: 'text', nullable: true },
    htmlBody: { type: 'text', nullable: true },
    createdAt: { type: 'datetime' },
    attempts: { type: 'integer', default: 0 },
    nextAttemptAt: { type: 'datetime', index: true },
    lockedUntil: { type: 'datetime', nullable: true },
    sentAt: { type: 'datetime', nullable: true },
    failedAt: { type: 'datetime', nullable: true },
    lastError: { type: 'string', length: 500, nullable: true },
  },
});

export const entities = [
  UserSchema,
  PendingRegistrationSchema,
  SessionSchema,
  RefreshTokenSchema,
  PasswordResetTokenSchema,
  SigningKeySchema,
  OutboxMailSchema,
];
