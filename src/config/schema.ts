import Type, { type Static } from 'typebox';

const seconds = (defaultValue: number, description: string, minimum = 1) =>
  Type.Integer({ minimum, default: defaultValue, description });

/**
 * Every configuration key, with its default and meaning. `.env.example` lists the same keys (a test checks it),
 * and the README's configuration table is written from these descriptions.
 */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Enum(['development', 'test', 'production'], {
    default: 'development',
    description: '`production` turns off response validation and refuses development-only settings',
  }),
  HOST: Type.String({ default: '0.0.0.0', description: 'address to listen on' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'listen port' }),
  HTTP_HEADERS_TIMEOUT_SECONDS: seconds(10, "seconds a client has to send a request's headers; a slower one is cut with 408 (slowloris)"),
  HTTP_REQUEST_TIMEOUT_SECONDS: seconds(30, 'seconds a client has to send a whole request, headers and body; a slower one is cut with 408'),
  PUBLIC_URL: Type.Optional(
    Type.String({ format: 'uri', description: "this API's external base URL (token issuer); default http://localhost:PORT" }),
  ),
  APP_URL: Type.Optional(Type.String({ format: 'uri', description: 'base URL for links in mail; default PUBLIC_URL' })),
  DATABASE_URL: Type.String({
    default: 'file:./data/pulse-auth.sqlite',
    pattern: '^(file:.+|postgres(ql)?://.+)$',
    description: '`file:<path>` selects SQLite (`file::memory:` for a throw-away database); `postgres://…` selects PostgreSQL',
  }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 15_000,
    description:
      'PostgreSQL: a statement running longer is cancelled (the request answers 503); 0 means no limit. Migrations run without it',
  }),
  REDIS_URL: Type.Optional(
    Type.String({ pattern: '^rediss?://.+', description: '`redis://host:6379`: the shared store for rate limits and lockouts' }),
  ),
  SMTP_URL: Type.Optional(
    Type.String({ pattern: '^smtps?://.+', description: '`smtp://user:pass@host:port` (or `smtps://`); unset means the development outbox' }),
  ),
  MAIL_FROM: Type.String({ default: 'Pulse Auth <no-reply@localhost>', description: 'sender of every mail' }),
  MAIL_DEV_DIR: Type.String({ default: './data/mail', description: 'folder of `.eml` files written by the development outbox' }),
  MAIL_MAX_ATTEMPTS: Type.Integer({ minimum: 1, default: 10, description: 'delivery attempts before a mail is given up' }),
  MAIL_RETRY_SECONDS: seconds(30, 'first retry delay after a failed delivery; doubles with each attempt, up to an hour'),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 30, default: 12, description: 'attempts before a webhook delivery is marked failed (12 with the default backoff: about a day)' }),
  WEBHOOK_RETRY_SECONDS: Type.Number({
    exclusiveMinimum: 0,
    default: 42,
    description: 'first retry delay after a failed webhook delivery; doubles with each attempt (42 s: the 12th attempt comes about 24 h after the first)',
  }),
  WEBHOOK_MAX_RETRY_SECONDS: Type.Number({ exclusiveMinimum: 0, default: 43_200, description: 'longest delay between two webhook attempts (12 hours)' }),
  WEBHOOK_POLL_SECONDS: Type.Number({
    exclusiveMinimum: 0,
    default: 5,
    description: 'how often each instance looks for due webhook deliveries (retries, and events other instances queued); new events are sent at once',
  }),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: Type.Boolean({
    default: false,
    description: 'allow webhook URLs whose host resolves to loopback, private, link-local, CGNAT or metadata addresses (tests, private deployments)',
  }),
  WEBHOOK_SECRET_KEY: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'the key (at least 32 characters, e.g. `openssl rand -base64 32`) that webhook signing secrets are encrypted under in the database; required in production; changing it makes the stored secrets unreadable',
    }),
  ),
  CORS_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed to call the API from a browser' }),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'take the client IP from `X-Forwarded-For` (behind a load balancer)' }),
  ADMIN_EMAILS: Type.String({ default: '', description: 'comma-separated emails that get the `admin` role when verified (plain ASCII addresses, as sign-up accepts)' }),
  ACCESS_TOKEN_TTL: seconds(900, 'access-token lifetime, seconds'),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: "the access token's `aud`; default PUBLIC_URL" })),
  SIGNING_KEY_PUBLISH_SECONDS: seconds(
    600,
    'how long a rotated-in signing key is published in the JWKS before it signs (longer than verifiers cache the JWKS)',
    0,
  ),
  SIGNING_KEY: Type.Optional(
    Type.String({
      minLength: 2,
      description: 'an operator-supplied private JWK (JSON, Ed25519 or P-256, with a `kid`); replaces the generated keys and rotation',
    }),
  ),
  REFRESH_TOKEN_TTL: seconds(2_592_000, "absolute lifetime of a session's refresh chain, seconds"),
  REFRESH_REUSE_GRACE: seconds(10, 'seconds in which a just-rotated refresh token may be presented again, once', 0),
  BCRYPT_COST: Type.Integer({ minimum: 4, maximum: 15, default: 12, description: 'bcrypt work factor' }),
  PASSWORD_HASH_THREADS: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'worker threads that hash passwords; 0 means one per CPU core',
  }),
  PASSWORD_HASH_QUEUE: Type.Integer({
    minimum: 0,
    default: 64,
    description:
      'password hashes that may wait for a hashing thread; past that, requests that hash or check a password answer 503 server-busy with Retry-After',
  }),
  VERIFICATION_TTL: seconds(1800, 'seconds a verification link and a pending registration live'),
  RESET_TTL: seconds(3600, 'seconds a password-reset link lives'),
  EMAIL_SIGN_IN: Type.Boolean({ default: true, description: 'passwordless sign-in by email (requestEmailSignIn, finishEmailSignIn, the /sign-in page) on or off' }),
  EMAIL_SIGN_IN_TTL: seconds(600, 'seconds a mailed sign-in link and code live'),
  INVITATION_TTL: seconds(604800, 'seconds an organization invitation lives'),
  REAUTH_MAX_AGE: seconds(300, 'how recent a sign-in must be to delete an account that has no password, seconds'),
  DELETION_GRACE_DAYS: Type.Integer({
    minimum: 0,
    default: 30,
    description: 'days a soft-deleted account waits before it is purged; 0 purges at once',
  }),
  SESSION_RETENTION_DAYS: Type.Integer({
    minimum: 0,
    default: 30,
    description: 'days an ended session (and its refresh tokens) is kept before the cleanup job removes it',
  }),
  LOGIN_HISTORY_DAYS: Type.Integer({
    minimum: 1,
    default: 90,
    description: 'days sign-in attempts (the login history) are kept',
  }),
  WEBHOOK_RETENTION_DAYS: Type.Integer({ minimum: 1, default: 30, description: 'days a delivered or failed webhook delivery (with its attempts) is kept before a job removes it' }),
  MAIL_OUTBOX_RETENTION_DAYS: Type.Integer({
    minimum: 1,
    default: 30,
    description: 'days a delivered or given-up mail is kept in the outbox (recipient, subject, delivery record) before a job removes it',
  }),
  AUDIT_RETENTION_DAYS: Type.Integer({
    minimum: 1,
    default: 365,
    description: 'days audit events are kept before a job removes them',
  }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 20,
    description:
      'requests per minute one client IP may make to each of register, verifyEmail, resendVerification, login, forgotPassword, resetPassword, verifyMfa and startOAuth',
  }),
  RATE_LIMIT_ACCOUNT_PER_HOUR: Type.Integer({
    minimum: 1,
    default: 30,
    description: 'requests per hour to each of those operations for one email (or one MFA challenge), from any IP',
  }),
  RATE_LIMIT_IPV6_PREFIX: Type.Integer({
    minimum: 32,
    maximum: 128,
    default: 64,
    description:
      'IPv6 clients are counted by network for rate limits, lockouts and IP blocks: the prefix length of that network (128 counts each address on its own)',
  }),
  RATE_LIMIT_STORE: Type.Enum(['auto', 'memory', 'database', 'redis'], {
    default: 'auto',
    description:
      'where rate-limit and lockout counters live: `memory` (one instance), `database` (PostgreSQL only) or `redis` (REDIS_URL); `auto` picks redis when REDIS_URL is set, else database on PostgreSQL, else memory',
  }),
  RATE_LIMIT_KEY_PREFIX: Type.String({
    pattern: '^[A-Za-z0-9_-]{1,32}$',
    default: 'pa',
    description: 'prefix of every counter key in the shared store (tell apart deployments that share one Redis)',
  }),
  LOCKOUT_ACCOUNT_THRESHOLD: Type.Integer({
    minimum: 1,
    default: 5,
    description: 'consecutive failed sign-ins of an email from one client IP (IPv6: network) that lock that client out of that email',
  }),
  LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: Type.Optional(
    Type.Integer({
      minimum: 1,
      description:
        'failed sign-ins of an email from all clients together that lock the email for everyone; default 4 × LOCKOUT_ACCOUNT_THRESHOLD',
    }),
  ),
  LOCKOUT_ACCOUNT_SECONDS: seconds(900, 'how long an email stays locked, seconds'),
  LOCKOUT_IP_THRESHOLD: Type.Integer({ minimum: 1, default: 20, description: 'failed sign-ins that block a client IP' }),
  LOCKOUT_IP_SECONDS: seconds(3600, 'how long a client IP stays blocked, seconds'),
  MFA_ISSUER: Type.String({ minLength: 1, default: 'Pulse Auth', description: 'the name authenticator apps show next to the account' }),
  MFA_CHALLENGE_TTL: seconds(300, 'seconds a sign-in has to enter its second factor (and an emailed code lives)'),
  MFA_MAX_ATTEMPTS: Type.Integer({ minimum: 1, default: 5, description: 'wrong codes that spend an MFA challenge' }),
  WEBAUTHN_RP_ID: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[A-Za-z0-9.-]+$',
      description: 'relying-party ID of passkeys (a host name: the origins\' hosts must be it or end in `.` + it); default the host name of APP_URL',
    }),
  ),
  WEBAUTHN_RP_NAME: Type.String({ minLength: 1, default: 'Pulse Auth', description: 'the relying-party name authenticators show next to a passkey' }),
  WEBAUTHN_ORIGINS: Type.Optional(
    Type.String({ minLength: 1, description: 'comma-separated origins allowed in passkey ceremonies (`https://app.example.com`); default the origin of APP_URL' }),
  ),
  GOOGLE_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, description: 'with GOOGLE_CLIENT_SECRET, enables the `google` provider' })),
  GOOGLE_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'the OAuth client secret of the Google client' })),
  OIDC_PROVIDERS: Type.String({
    default: '',
    description:
      'comma-separated names of OpenID Connect providers; each NAME needs `OIDC_<NAME>_ISSUER`, `OIDC_<NAME>_CLIENT_ID` and `OIDC_<NAME>_CLIENT_SECRET`',
  }),
  OIDC_ALLOW_HTTP_ISSUERS: Type.Boolean({
    default: false,
    description: 'accept `http://` issuers (local test providers only; refused in production)',
  }),
  SCHEDULED_JOBS: Type.Boolean({
    default: true,
    description: 'run the scheduled jobs in this instance; false leaves them to other instances or to `pulse-auth cleanup` from cron',
  }),
  METRICS_TOKEN: Type.Optional(
    Type.String({
      minLength: 16,
      description: '`/metrics` answers only requests with `Authorization: Bearer <METRICS_TOKEN>`; required with NODE_ENV=production, unset elsewhere leaves it open',
    }),
  ),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    default: 'info',
    description: 'pino log level',
  }),
  VALIDATE_RESPONSES: Type.Optional(
    Type.Boolean({ description: 'check every response against the spec (default: on unless NODE_ENV=production)' }),
  ),
});

export type RawConfig = Static<typeof ConfigSchema>;
