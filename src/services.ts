import type { Logger } from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import type { Config } from './config/load.js';
import { createLogger } from './observability/logger.js';
import { openDatabase } from './db/orm.js';
import { systemClock, type Clock } from './domain/kernel/clock.js';
import type { PasswordHasher } from './domain/passwords/hasher.js';
import { createPasswordHasher } from './infra/hashing-pool.js';
import { SigningKeys } from './domain/tokens/signing-keys.js';
import { AccessTokens } from './domain/tokens/access-tokens.js';
import { Sessions } from './domain/sessions/sessions.js';
import { Invalidations } from './domain/cache/invalidations.js';
import { Registration } from './domain/registration/registration.js';
import { Passwords } from './domain/passwords/passwords.js';
import { EmailSignIns } from './domain/sign-in/email-sign-in.js';
import { AccountDeletion } from './domain/users/deletion.js';
import { Reauthentication } from './domain/users/reauthentication.js';
import { Counters } from './infra/counters.js';
import { advisoryLocks } from './infra/advisory-locks.js';
import { invalidationChannelFor } from './infra/pg-invalidation-channel.js';
import { SignInGuard } from './domain/protection/sign-in-guard.js';
import { LoginAttempts } from './domain/sessions/login-attempts.js';
import { Mfa } from './domain/mfa/mfa.js';
import { Providers } from './domain/social/providers.js';
import { SocialSignIn } from './domain/social/social-sign-in.js';
import { AuditLog } from './domain/audit/audit-log.js';
import { AdminUsers } from './domain/admin/admin-users.js';
import { UserImport } from './domain/admin/user-import.js';
import { Passkeys } from './domain/passkeys/passkeys.js';
import { Organizations } from './domain/organizations/organizations.js';
import { Metrics } from './observability/metrics.js';
import { createMailTransport, type MailTransport } from './mail/transport.js';
import { MailDeliverer } from './mail/deliverer.js';
import { outboxMailbox } from './mail/mailbox.js';
import { WebhookEndpoints } from './domain/webhooks/endpoints.js';
import { SecretSealer } from './domain/webhooks/secrets.js';
import { WebhookDeliverer } from './infra/webhook-deliverer.js';

/** Seals webhook secrets outside production when WEBHOOK_SECRET_KEY is unset (production refuses to start without it). */
const DEVELOPMENT_WEBHOOK_KEY = 'pulse-auth development webhook key: not a secret';

/** Everything the handlers use, built once per process from the configuration. */
export interface Services {
  config: Config;
  logger: Logger;
  clock: Clock;
  orm: MikroORM;
  hasher: PasswordHasher;
  signingKeys: SigningKeys;
  accessTokens: AccessTokens;
  sessions: Sessions;
  invalidations: Invalidations;
  registration: Registration;
  passwords: Passwords;
  emailSignIns: EmailSignIns;
  accountDeletion: AccountDeletion;
  reauthentication: Reauthentication;
  counters: Counters;
  guard: SignInGuard;
  attempts: LoginAttempts;
  mfa: Mfa;
  providers: Providers;
  socialSignIn: SocialSignIn;
  passkeys: Passkeys;
  organizations: Organizations;
  audit: AuditLog;
  metrics: Metrics;
  adminUsers: AdminUsers;
  userImport: UserImport;
  mailTransport: MailTransport;
  mailer: MailDeliverer;
  webhookEndpoints: WebhookEndpoints;
  webhooks: WebhookDeliverer;
  close(): Promise<void>;
}

export async function createServices(config: Config, overrides: { logger?: Logger; clock?: Clock } = {}): Promise<Services> {
  const logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL });
  const clock = overrides.clock ?? systemClock;
  const orm = await openDatabase(config.DATABASE_URL, { logger, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS });
  const audit = new AuditLog(orm, clock, logger);
  const mailbox = outboxMailbox;
  const metrics = new Metrics(orm, clock);
  const hasher = createPasswordHasher({ cost: config.BCRYPT_COST, threads: config.PASSWORD_HASH_THREADS, queue: config.PASSWORD_HASH_QUEUE });
  const signingKeys = new SigningKeys(orm, clock, logger, {
    publishSeconds: config.SIGNING_KEY_PUBLISH_SECONDS,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL,
    configuredKey: config.SIGNING_KEY,
  });
  await signingKeys.init();
  const accessTokens = new AccessTokens(signingKeys, clock, {
    issuer: config.PUBLIC_URL,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL,
  });
  const invalidations = await Invalidations.start(invalidationChannelFor(config.DATABASE_URL, logger));
  orm.em.getEventManager().registerSubscriber(invalidations.userSubscriber());
  metrics.watchCaches(() => invalidations.stats);
  const sessions = new Sessions(clock, invalidations, { refreshTtlSeconds: config.REFRESH_TOKEN_TTL, reuseGraceSeconds: config.REFRESH_REUSE_GRACE });
  const registration = new Registration(clock, hasher, mailbox, advisoryLocks, {
    appUrl: config.APP_URL,
    verificationTtlSeconds: config.VERIFICATION_TTL,
    adminEmails: config.adminEmails,
  });
  const counters = await Counters.open(config, orm, logger);
  if (counters.redis) metrics.watchDependency('redis', () => counters.redisAnswers());
  const guard = new SignInGuard(counters, clock, logger, audit, metrics, mailbox, {
    accountThreshold: config.LOCKOUT_ACCOUNT_THRESHOLD,
    accountGlobalThreshold: config.LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD,
    accountSeconds: config.LOCKOUT_ACCOUNT_SECONDS,
    ipThreshold: config.LOCKOUT_IP_THRESHOLD,
    ipSeconds: config.LOCKOUT_IP_SECONDS,
    ipv6Prefix: config.RATE_LIMIT_IPV6_PREFIX,
    appUrl: config.APP_URL,
  });
  const reauthentication = new Reauthentication(clock, hasher, guard, { maxAgeSeconds: config.REAUTH_MAX_AGE });
  const passwords = new Passwords(orm, clock, hasher, sessions, reauthentication, logger, mailbox, {
    appUrl: config.APP_URL,
    resetTtlSeconds: config.RESET_TTL,
  });
  const emailSignIns = new EmailSignIns(orm, clock, logger, mailbox, {
    appUrl: config.APP_URL,
    ttlSeconds: config.EMAIL_SIGN_IN_TTL,
    maxAttempts: 5,
  });
  const accountDeletion = new AccountDeletion(clock, reauthentication, sessions, mailbox, advisoryLocks, { graceDays: config.DELETION_GRACE_DAYS });
  const attempts = new LoginAttempts(clock, mailbox, { appUrl: config.APP_URL });
  const mfa = new Mfa(clock, reauthentication, invalidations, mailbox, {
    issuer: config.MFA_ISSUER,
    appUrl: config.APP_URL,
    challengeTtlSeconds: config.MFA_CHALLENGE_TTL,
    maxAttempts: config.MFA_MAX_ATTEMPTS,
  });
  const providers = new Providers(config.providers, logger, {
    publicUrl: config.PUBLIC_URL,
    allowHttpIssuers: config.OIDC_ALLOW_HTTP_ISSUERS,
  });
  const socialSignIn = new SocialSignIn(providers, clock, logger, mailbox, {
    adminEmails: config.adminEmails,
    publicUrl: config.PUBLIC_URL,
    appUrl: config.APP_URL,
  });
  const passkeys = new Passkeys(clock, reauthentication, mailbox, {
    relyingParty: { id: config.WEBAUTHN_RP_ID, name: config.WEBAUTHN_RP_NAME, origins: config.webauthnOrigins },
    appUrl: config.APP_URL,
  });
  const organizations = new Organizations(clock, invalidations, mailbox, advisoryLocks, {
    appUrl: config.APP_URL,
    invitationTtlSeconds: config.INVITATION_TTL,
  });
  const adminUsers = new AdminUsers(clock, sessions, accountDeletion, advisoryLocks, { deletionGraceDays: config.DELETION_GRACE_DAYS });
  const userImport = new UserImport(clock, advisoryLocks, { adminEmails: config.adminEmails });
  const mailTransport = createMailTransport({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM,
    devDir: config.MAIL_DEV_DIR,
    logger,
    logLinks: config.NODE_ENV !== 'production', // the links hold single-use tokens: never in a production log
  });
  const mailer = new MailDeliverer(orm, mailTransport, clock, logger, metrics, {
    maxAttempts: config.MAIL_MAX_ATTEMPTS,
    retrySeconds: config.MAIL_RETRY_SECONDS,
  });
  const webhookEndpoints = new WebhookEndpoints(clock, new SecretSealer(config.WEBHOOK_SECRET_KEY ?? DEVELOPMENT_WEBHOOK_KEY), {
    allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    httpsOnly: config.NODE_ENV === 'production',
  });
  const webhooks = new WebhookDeliverer(orm, webhookEndpoints, clock, logger, metrics, {
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    retrySeconds: config.WEBHOOK_RETRY_SECONDS,
    maxRetrySeconds: config.WEBHOOK_MAX_RETRY_SECONDS,
    allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    pollSeconds: config.WEBHOOK_POLL_SECONDS,
  });
  orm.em.getEventManager().registerSubscriber(webhooks.subscriber());

  return {
    config,
    logger,
    clock,
    orm,
    hasher,
    signingKeys,
    accessTokens,
    sessions,
    invalidations,
    registration,
    passwords,
    emailSignIns,
    accountDeletion,
    reauthentication,
    counters,
    guard,
    attempts,
    mfa,
    providers,
    socialSignIn,
    passkeys,
    organizations,
    audit,
    metrics,
    adminUsers,
    userImport,
    mailTransport,
    mailer,
    webhookEndpoints,
    webhooks,
    async close() {
      await webhooks.stop();
      await mailer.idle();
      mailTransport.close();
      await hasher.close();
      await counters.close();
      await invalidations.close();
      await orm.close(true);
    },
  };
}
