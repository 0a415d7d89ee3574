import { BigIntType, EntitySchema } from '@mikro-orm/core';

/**
 * The tables. Plain interfaces plus EntitySchema (no decorators: tsx emits no decorator metadata).
 * Column names are snake_case (MikroORM's default naming strategy).
 *
 * Dates are `type: 'Date'`, not `'datetime'`: with the libsql driver, `'datetime'` makes every loaded entity look
 * changed, and the next flush writes its old dates back over whatever a native update just set.
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
  /** Set by an administrator: the account cannot sign in until unlocked. */
  lockedAt: Date | null;
  /** The authenticator-app secret (base32); asked for at sign-in once `totpEnabledAt` is set. */
  totpSecret: string | null;
  totpEnabledAt: Date | null;
  /** The last TOTP time step used, so that a code cannot be used twice. */
  totpLastStep: number | null;
  emailOtpEnabledAt: Date | null;
}

export const UserSchema = new EntitySchema<User>({
  name: 'User',
  tableName: 'users',
  // adminListUsers pages newest first by (createdAt, id).
  indexes: [{ properties: ['createdAt', 'id'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    email: { type: 'string', length: 254, unique: true },
    name: { type: 'string', length: 100, nullable: true },
    passwordHash: { type: 'string', length: 100, nullable: true, lazy: true },
    role: { type: 'string', length: 16, default: 'user' },
    emailVerified: { type: 'boolean', default: true },
    createdAt: { type: 'Date' },
    updatedAt: { type: 'Date' },
    deletedAt: { type: 'Date', nullable: true, index: true },
    lockedAt: { type: 'Date', nullable: true },
    totpSecret: { type: 'string', length: 64, nullable: true, lazy: true },
    totpEnabledAt: { type: 'Date', nullable: true },
    totpLastStep: { type: 'integer', nullable: true },
    emailOtpEnabledAt: { type: 'Date', nullable: true },
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
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
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
  /** The organization its access tokens are scoped to (setActiveOrganization), or null. */
  activeOrganizationId: string | null;
}

export const SessionSchema = new EntitySchema<Session>({
  name: 'Session',
  tableName: 'sessions',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    createdAt: { type: 'Date' },
    lastActiveAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    revokedAt: { type: 'Date', nullable: true, index: true },
    revokedReason: { type: 'string', length: 32, nullable: true },
    ip: { type: 'string', length: 45, nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    deviceType: { type: 'string', length: 16 },
    browser: { type: 'string', length: 64, nullable: true },
    os: { type: 'string', length: 64, nullable: true },
    refreshSecret: { type: 'string', length: 64, lazy: true },
    // Index: a membership change finds the sessions that have the organization active.
    activeOrganizationId: { type: 'uuid', nullable: true, index: true },
  },
});

/** Every refresh token a session has been given, by hash. A rotated one presented again betrays reuse. */
export interface RefreshToken {
  id: string;
  sessionId: string;
  tokenHash: string;
  createdAt: Date;
  rotatedAt: Date | null;
  /** When the token was first presented again after its rotation, within the grace window (its one replay). */
  replayedAt: Date | null;
}

export const RefreshTokenSchema = new EntitySchema<RefreshToken>({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    sessionId: { type: 'uuid', index: true },
    tokenHash: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'Date' },
    rotatedAt: { type: 'Date', nullable: true },
    replayedAt: { type: 'Date', nullable: true },
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
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    usedAt: { type: 'Date', nullable: true },
  },
});

export type LoginOutcome = 'success' | 'failure' | 'mfa-required' | 'locked';
export type LoginMethod = 'password' | 'totp' | 'email' | 'recovery-code' | 'social' | 'passkey';

/** Every sign-in attempt: the successful ones are the user's login history, all of them the admins' audit. */
export interface LoginAttempt {
  id: string;
  createdAt: Date;
  email: string;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  deviceType: DeviceType;
  browser: string | null;
  os: string | null;
  /** Device type, browser and OS names without versions: what "a device not seen before" compares. */
  deviceKey: string;
  outcome: LoginOutcome;
  reason: string | null;
  method: LoginMethod | null;
}

export const LoginAttemptSchema = new EntitySchema<LoginAttempt>({
  name: 'LoginAttempt',
  tableName: 'login_attempts',
  // adminListLoginAttempts filters by one of userId, email, ip, outcome (or none) and pages newest first by
  // (createdAt, id): one index per filter that serves the sort, so a page is a bounded index scan. The login
  // history and the sign-in's "signed in before" check use (userId, outcome, createdAt); the new-device check
  // (userId, outcome, deviceKey).
  indexes: [
    { properties: ['createdAt', 'id'] },
    { properties: ['outcome', 'createdAt', 'id'] },
    { properties: ['email', 'createdAt', 'id'] },
    { properties: ['userId', 'createdAt', 'id'] },
    { properties: ['ip', 'createdAt', 'id'] },
    { properties: ['userId', 'outcome', 'createdAt'] },
    { properties: ['userId', 'outcome', 'deviceKey'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    createdAt: { type: 'Date' },
    email: { type: 'string', length: 254 },
    userId: { type: 'uuid', nullable: true },
    ip: { type: 'string', length: 45, nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    deviceType: { type: 'string', length: 16 },
    browser: { type: 'string', length: 64, nullable: true },
    os: { type: 'string', length: 64, nullable: true },
    deviceKey: { type: 'string', length: 150 },
    outcome: { type: 'string', length: 16 },
    reason: { type: 'string', length: 32, nullable: true },
    method: { type: 'string', length: 16, nullable: true },
  },
});

/** An IP blocked after repeated failed sign-ins, kept for the administrators. */
export interface BlockedIp {
  id: string;
  ip: string;
  blockedAt: Date;
  expiresAt: Date;
  failures: number;
  unblockedAt: Date | null;
}

export const BlockedIpSchema = new EntitySchema<BlockedIp>({
  name: 'BlockedIp',
  tableName: 'blocked_ips',
  properties: {
    id: { type: 'uuid', primary: true },
    ip: { type: 'string', length: 45, index: true },
    blockedAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    failures: { type: 'integer' },
    unblockedAt: { type: 'Date', nullable: true },
  },
});

/**
 * A passwordless sign-in by email (requestEmailSignIn): the hashes of the mailed link's token and of its 6-digit code,
 * the wrong codes tried so far, and when it was spent. One live request per account: a newer one replaces it.
 */
export interface EmailSignInRequest {
  id: string;
  userId: string;
  tokenHash: string;
  /** HMAC of the code, keyed by the request's id. */
  codeHash: string;
  attempts: number;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

export const EmailSignInRequestSchema = new EntitySchema<EmailSignInRequest>({
  name: 'EmailSignInRequest',
  tableName: 'email_sign_in_requests',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    tokenHash: { type: 'string', length: 64, unique: true },
    codeHash: { type: 'string', length: 64 },
    attempts: { type: 'integer', default: 0 },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    consumedAt: { type: 'Date', nullable: true },
  },
});

/** A single-use recovery code, stored by hash. */
export interface RecoveryCode {
  id: string;
  userId: string;
  codeHash: string;
  createdAt: Date;
  usedAt: Date | null;
}

export const RecoveryCodeSchema = new EntitySchema<RecoveryCode>({
  name: 'RecoveryCode',
  tableName: 'recovery_codes',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    codeHash: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'Date' },
    usedAt: { type: 'Date', nullable: true },
  },
});

/** A sign-in waiting for its second factor. */
export interface MfaChallenge {
  id: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  attempts: number;
  consumedAt: Date | null;
  /** HMAC of the emailed code, when email codes are on. */
  emailCodeHash: string | null;
  ip: string | null;
  userAgent: string | null;
  refreshTokenDelivery: 'cookie' | 'body';
}

export const MfaChallengeSchema = new EntitySchema<MfaChallenge>({
  name: 'MfaChallenge',
  tableName: 'mfa_challenges',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    attempts: { type: 'integer', default: 0 },
    consumedAt: { type: 'Date', nullable: true },
    emailCodeHash: { type: 'string', length: 64, nullable: true },
    ip: { type: 'string', length: 45, nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    refreshTokenDelivery: { type: 'string', length: 8 },
  },
});

/** An account's identity at a social sign-in provider. */
export interface Identity {
  id: string;
  userId: string;
  provider: string;
  /** The provider's `sub`: stable for the person at that provider. */
  subject: string;
  email: string | null;
  createdAt: Date;
  lastUsedAt: Date;
}

export const IdentitySchema = new EntitySchema<Identity>({
  name: 'Identity',
  tableName: 'identities',
  uniques: [{ properties: ['provider', 'subject'] }, { properties: ['userId', 'provider'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    provider: { type: 'string', length: 32 },
    subject: { type: 'string', length: 255 },
    email: { type: 'string', length: 254, nullable: true },
    createdAt: { type: 'Date' },
    lastUsedAt: { type: 'Date' },
  },
});

/** A social sign-in between startOAuth and finishOAuth. Single-use; stored by the hash of its `state`. */
export interface OAuthState {
  id: string;
  stateHash: string;
  /** Hash of the random value in the browser's `pulse_auth_oauth` cookie: only that browser can finish. */
  browserHash: string;
  provider: string;
  codeVerifier: string;
  nonce: string;
  intent: 'login' | 'link';
  linkUserId: string | null;
  /** The session that asked for the link: when it has ended by the time the provider answers, nothing is linked. */
  linkSessionId: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export const OAuthStateSchema = new EntitySchema<OAuthState>({
  name: 'OAuthState',
  tableName: 'oauth_states',
  properties: {
    id: { type: 'uuid', primary: true },
    stateHash: { type: 'string', length: 64, unique: true },
    browserHash: { type: 'string', length: 64 },
    provider: { type: 'string', length: 32 },
    codeVerifier: { type: 'string', length: 128 },
    nonce: { type: 'string', length: 128 },
    intent: { type: 'string', length: 8 },
    linkUserId: { type: 'uuid', nullable: true },
    linkSessionId: { type: 'uuid', nullable: true },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
  },
});

/**
 * Permission to link one provider identity to one account, made by startIdentityLink after a step-up proof and
 * spent by startOAuth. Single-use, short-lived, stored by hash, bound to the session that asked for it.
 */
export interface IdentityLinkTicket {
  id: string;
  ticketHash: string;
  userId: string;
  sessionId: string;
  provider: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

export const IdentityLinkTicketSchema = new EntitySchema<IdentityLinkTicket>({
  name: 'IdentityLinkTicket',
  tableName: 'identity_link_tickets',
  properties: {
    id: { type: 'uuid', primary: true },
    ticketHash: { type: 'string', length: 64, unique: true },
    userId: { type: 'uuid', index: true },
    sessionId: { type: 'uuid' },
    provider: { type: 'string', length: 32 },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    usedAt: { type: 'Date', nullable: true },
  },
});

// ---- passkeys (WebAuthn) ----

/** A passkey registered to an account (finishPasskeyRegistration). */
export interface Passkey {
  id: string;
  userId: string;
  /** The credential ID, base64url: unique across every account. */
  credentialId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter at its last use (0 for authenticators that keep none). */
  counter: number;
  /** Comma-separated transports the authenticator named (`internal,hybrid`). */
  transports: string;
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  aaguid: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export const PasskeySchema = new EntitySchema<Passkey>({
  name: 'Passkey',
  tableName: 'passkeys',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid', index: true },
    credentialId: { type: 'string', length: 1366, unique: true },
    publicKey: { type: 'text' },
    // A uint32 on the wire: past the range of a PostgreSQL integer.
    counter: { type: new BigIntType('number'), default: 0 },
    transports: { type: 'string', length: 200, default: '' },
    deviceType: { type: 'string', length: 16 },
    backedUp: { type: 'boolean', default: false },
    aaguid: { type: 'string', length: 36 },
    name: { type: 'string', length: 64 },
    createdAt: { type: 'Date' },
    lastUsedAt: { type: 'Date', nullable: true },
  },
});

export type WebauthnChallengePurpose = 'registration' | 'sign-in';

/**
 * A passkey ceremony between its start and its finish: the random challenge the authenticator signs, for one purpose
 * (and, for a registration, one user). Single-use (deleted when finished, right or wrong), 5 minutes long.
 */
export interface WebauthnChallenge {
  /** The challengeId of the API: random. */
  id: string;
  /** The challenge, base64url (32 random bytes). */
  challenge: string;
  purpose: WebauthnChallengePurpose;
  userId: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export const WebauthnChallengeSchema = new EntitySchema<WebauthnChallenge>({
  name: 'WebauthnChallenge',
  tableName: 'webauthn_challenges',
  properties: {
    id: { type: 'uuid', primary: true },
    challenge: { type: 'string', length: 128 },
    purpose: { type: 'string', length: 16 },
    userId: { type: 'uuid', nullable: true, index: true },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
  },
});

// ---- organizations ----

export type OrganizationRole = 'owner' | 'admin' | 'member';

/** A tenant of a client product (PRODUCT §5.2): members with roles, and invitations. */
export interface Organization {
  id: string;
  name: string;
  /** The name lower-cased, for adminListOrganizations' prefix filter. */
  nameKey: string;
  slug: string;
  createdAt: Date;
  updatedAt: Date;
}

export const OrganizationSchema = new EntitySchema<Organization>({
  name: 'Organization',
  tableName: 'organizations',
  // adminListOrganizations pages newest first by (createdAt, id), and filters by name prefix.
  indexes: [{ properties: ['createdAt', 'id'] }, { properties: ['nameKey', 'createdAt'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 100 },
    nameKey: { type: 'string', length: 100 },
    slug: { type: 'string', length: 48, unique: true },
    createdAt: { type: 'Date' },
    updatedAt: { type: 'Date' },
  },
});

/** One user's place in one organization. */
export interface Membership {
  id: string;
  organizationId: string;
  userId: string;
  role: OrganizationRole;
  createdAt: Date;
}

export const MembershipSchema = new EntitySchema<Membership>({
  name: 'Membership',
  tableName: 'memberships',
  // One membership per user and organization (also what lets one of 20 parallel accepts in); the member list pages
  // by (organizationId, createdAt, id), the caller's organizations by (userId, createdAt, id); the owner count by
  // (organizationId, role).
  uniques: [{ properties: ['organizationId', 'userId'] }],
  indexes: [
    { properties: ['organizationId', 'createdAt', 'id'] },
    { properties: ['userId', 'createdAt', 'id'] },
    { properties: ['organizationId', 'role'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    userId: { type: 'uuid' },
    role: { type: 'string', length: 16 },
    createdAt: { type: 'Date' },
  },
});

/** An invitation to join an organization by email: a single-use token, stored as its hash. */
export interface Invitation {
  id: string;
  organizationId: string;
  /** Normalised as sign-up normalises emails. */
  email: string;
  role: OrganizationRole;
  tokenHash: string;
  invitedBy: string | null;
  createdAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
  acceptedBy: string | null;
  /** Revoked, or replaced by a newer invitation of the same email. */
  revokedAt: Date | null;
}

export const InvitationSchema = new EntitySchema<Invitation>({
  name: 'Invitation',
  tableName: 'invitations',
  // listInvitations pages by (organizationId, createdAt, id); re-inviting finds the pending one by (organizationId,
  // email); the cleanup job deletes by expiresAt.
  indexes: [{ properties: ['organizationId', 'createdAt', 'id'] }, { properties: ['organizationId', 'email'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    organizationId: { type: 'uuid' },
    email: { type: 'string', length: 254 },
    role: { type: 'string', length: 16 },
    tokenHash: { type: 'string', length: 64, unique: true },
    invitedBy: { type: 'uuid', nullable: true },
    createdAt: { type: 'Date' },
    expiresAt: { type: 'Date', index: true },
    acceptedAt: { type: 'Date', nullable: true },
    acceptedBy: { type: 'uuid', nullable: true },
    revokedAt: { type: 'Date', nullable: true },
  },
});

/** Who did what to whom, from where: the trail of every security-relevant action. */
export interface AuditEvent {
  id: string;
  createdAt: Date;
  action: string;
  outcome: 'success' | 'failure';
  actorUserId: string | null;
  targetUserId: string | null;
  ip: string | null;
  userAgent: string | null;
  /** Small, non-secret facts about the event (a problem code, a new role, a key id). */
  details: Record<string, unknown> | null;
}

export const AuditEventSchema = new EntitySchema<AuditEvent>({
  name: 'AuditEvent',
  tableName: 'audit_events',
  // adminListAuditEvents pages newest first by (createdAt, id); the retention job deletes by createdAt.
  indexes: [{ properties: ['createdAt', 'id'] }, { properties: ['targetUserId', 'createdAt'] }, { properties: ['actorUserId', 'createdAt'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    createdAt: { type: 'Date' },
    action: { type: 'string', length: 64, index: true },
    outcome: { type: 'string', length: 8 },
    actorUserId: { type: 'uuid', nullable: true },
    targetUserId: { type: 'uuid', nullable: true },
    ip: { type: 'string', length: 45, nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    details: { type: 'json', nullable: true },
  },
});

/**
 * A key pair that signs access tokens. Published in the JWKS from `createdAt`, signs from `activatesAt` (so that
 * verifiers that cache the JWKS know it before they meet a token it signed), published until `retiresAt`.
 */
export interface SigningKey {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  privateJwk: Record<string, unknown>;
  createdAt: Date;
  activatesAt: Date;
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
    createdAt: { type: 'Date' },
    activatesAt: { type: 'Date', nullable: true },
    retiresAt: { type: 'Date', nullable: true },
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
  // The retention job (delete-old-mail) by sentAt and failedAt; an account's purge by recipient.
  indexes: [{ properties: ['sentAt'] }, { properties: ['failedAt'] }, { properties: ['recipient'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    recipient: { type: 'string', length: 254 },
    subject: { type: 'string', length: 200 },
    textBody: { type: 'text', nullable: true },
    htmlBody: { type: 'text', nullable: true },
    createdAt: { type: 'Date' },
    attempts: { type: 'integer', default: 0 },
    nextAttemptAt: { type: 'Date', index: true },
    lockedUntil: { type: 'Date', nullable: true },
    sentAt: { type: 'Date', nullable: true },
    failedAt: { type: 'Date', nullable: true },
    lastError: { type: 'string', length: 500, nullable: true },
  },
});

/**
 * A webhook endpoint (§5.3). The signing secrets are kept sealed (AES-256-GCM under a key derived from the server's
 * secret; see domain/webhooks/secrets.ts): a copy of the database alone cannot sign events.
 */
export interface WebhookEndpoint {
  id: string;
  url: string;
  /** The subscribed event types, comma-separated; `*` for all. */
  events: string;
  description: string | null;
  enabled: boolean;
  sealedSecret: string;
  /** The secret before the last rotation: it signs alongside until previousSecretExpiresAt. */
  sealedPreviousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  secretRotatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const WebhookEndpointSchema = new EntitySchema<WebhookEndpoint>({
  name: 'WebhookEndpoint',
  tableName: 'webhook_endpoints',
  properties: {
    id: { type: 'uuid', primary: true },
    url: { type: 'string', length: 2000 },
    events: { type: 'string', length: 2000 },
    description: { type: 'string', length: 500, nullable: true },
    enabled: { type: 'boolean', default: true },
    sealedSecret: { type: 'string', length: 300 },
    sealedPreviousSecret: { type: 'string', length: 300, nullable: true },
    previousSecretExpiresAt: { type: 'Date', nullable: true },
    secretRotatedAt: { type: 'Date', nullable: true },
    createdAt: { type: 'Date' },
    updatedAt: { type: 'Date' },
  },
});

/** An event, written in the transaction of the change that causes it; its deliveries point at it. */
export interface WebhookEventRow {
  /** `evt_` and a time-ordered id: the `webhook-id` header. */
  id: string;
  type: string;
  /** The JSON body sent to every endpoint: `{id, type, timestamp, data}`. */
  payload: string;
  createdAt: Date;
}

export const WebhookEventSchema = new EntitySchema<WebhookEventRow>({
  name: 'WebhookEvent',
  tableName: 'webhook_events',
  indexes: [{ properties: ['createdAt'] }],
  properties: {
    id: { type: 'string', length: 64, primary: true },
    type: { type: 'string', length: 64 },
    payload: { type: 'text' },
    createdAt: { type: 'Date' },
  },
});

/**
 * One event to one endpoint: a message of the outbox (db/outbox.ts), as a mail is. The id is time-ordered (UUIDv7),
 * so an endpoint's deliveries go out in the order of their events.
 */
export interface WebhookDelivery {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  createdAt: Date;
  attempts: number;
  nextAttemptAt: Date;
  lockedUntil: Date | null;
  deliveredAt: Date | null;
  failedAt: Date | null;
  lastResponseStatus: number | null;
  lastError: string | null;
}

export const WebhookDeliverySchema = new EntitySchema<WebhookDelivery>({
  name: 'WebhookDelivery',
  tableName: 'webhook_deliveries',
  // The claim looks for each endpoint's oldest undelivered delivery; the admin list pages by endpoint; retention by
  // deliveredAt and failedAt.
  indexes: [
    { properties: ['endpointId', 'id'] },
    { properties: ['endpointId', 'createdAt', 'id'] },
    { properties: ['deliveredAt'] },
    { properties: ['failedAt'] },
    { properties: ['eventId'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    endpointId: { type: 'uuid' },
    eventId: { type: 'string', length: 64 },
    eventType: { type: 'string', length: 64 },
    createdAt: { type: 'Date' },
    attempts: { type: 'integer', default: 0 },
    nextAttemptAt: { type: 'Date', index: true },
    lockedUntil: { type: 'Date', nullable: true },
    deliveredAt: { type: 'Date', nullable: true },
    failedAt: { type: 'Date', nullable: true },
    lastResponseStatus: { type: 'integer', nullable: true },
    lastError: { type: 'string', length: 500, nullable: true },
  },
});

/** One try of a delivery: what came back and how long it took. */
export interface WebhookAttempt {
  id: string;
  deliveryId: string;
  at: Date;
  outcome: 'success' | 'failure';
  responseStatus: number | null;
  durationMs: number;
  /** The first 1,000 characters of the response body. */
  responseBody: string | null;
  error: string | null;
}

export const WebhookAttemptSchema = new EntitySchema<WebhookAttempt>({
  name: 'WebhookAttempt',
  tableName: 'webhook_attempts',
  properties: {
    id: { type: 'uuid', primary: true },
    deliveryId: { type: 'uuid', index: true },
    at: { type: 'Date' },
    outcome: { type: 'string', length: 16 },
    responseStatus: { type: 'integer', nullable: true },
    durationMs: { type: 'integer' },
    responseBody: { type: 'string', length: 1000, nullable: true },
    error: { type: 'string', length: 500, nullable: true },
  },
});

export const entities = [
  UserSchema,
  PendingRegistrationSchema,
  SessionSchema,
  RefreshTokenSchema,
  PasswordResetTokenSchema,
  LoginAttemptSchema,
  BlockedIpSchema,
  EmailSignInRequestSchema,
  RecoveryCodeSchema,
  MfaChallengeSchema,
  IdentitySchema,
  OAuthStateSchema,
  IdentityLinkTicketSchema,
  PasskeySchema,
  WebauthnChallengeSchema,
  OrganizationSchema,
  MembershipSchema,
  InvitationSchema,
  AuditEventSchema,
  SigningKeySchema,
  OutboxMailSchema,
  WebhookEndpointSchema,
  WebhookEventSchema,
  WebhookDeliverySchema,
  WebhookAttemptSchema,
];
