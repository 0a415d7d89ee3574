import type { Handlers, OperationPolicies } from '../http/operation.js';
import { healthOperations, type HealthDeps } from './health.js';
import { passwordOperations, passwordPolicies, type PasswordDeps } from './passwords.js';
import { mfaOperations, mfaPolicies, type MfaDeps } from './mfa.js';
import { socialOperations, socialPolicies, type SocialDeps } from './social.js';
import { adminOperations, adminPolicies, type AdminDeps } from './admin.js';
import { sessionOperations, sessionPolicies, type SessionDeps } from './sessions.js';
import { profileOperations, profilePolicies, type ProfileDeps } from './profile.js';
import { registrationOperations, registrationPolicies, type RegistrationDeps } from './registration.js';
import { passkeyOperations, passkeyPolicies, type PasskeyDeps } from './passkeys.js';
import { signInOperations, signInPolicies, type SignInOperationDeps } from './sign-in.js';
import { organizationOperations, organizationPolicies, type OrganizationDeps } from './organizations.js';
import { webhookOperations, webhookPolicies, type WebhookDeps } from './webhooks.js';

/**
 * What the operation modules use, together: each module's `…Deps` names its own few, and the type check refuses a
 * handler that reaches for anything else. The composition root hands in its services (src/app.ts).
 */
export type OperationDeps = HealthDeps &
  RegistrationDeps &
  SignInOperationDeps &
  SessionDeps &
  PasswordDeps &
  MfaDeps &
  SocialDeps &
  AdminDeps &
  ProfileDeps &
  PasskeyDeps &
  OrganizationDeps &
  WebhookDeps;

/**
 * Every operation's handler, each module given only what its `…Deps` names. The `Handlers` type makes a missing or
 * mis-shaped handler a compile error.
 */
export function createHandlers(deps: OperationDeps): Handlers {
  const { config, clock, orm, logger, metrics, counters, mailer, sessions, attempts, guard, mfa, hasher, accessTokens, signingKeys } = deps;
  const signIn = { hasher, sessions, guard, attempts, mfa };
  return {
    ...healthOperations({ counters, signingKeys, metrics, logger }),
    ...registrationOperations({ registration: deps.registration, mailer, orm, logger }),
    ...signInOperations({ ...signIn, accessTokens, config, mailer, emailSignIns: deps.emailSignIns }),
    ...sessionOperations({ sessions, attempts }),
    ...passwordOperations({ passwords: deps.passwords, guard, mailer }),
    ...mfaOperations({ ...signIn, accessTokens, config, mailer }),
    ...socialOperations({
      sessions,
      attempts,
      mfa,
      providers: deps.providers,
      socialSignIn: deps.socialSignIn,
      reauthentication: deps.reauthentication,
      config,
      mailer,
    }),
    ...adminOperations({ config, clock, orm, logger, metrics, counters, mailer, adminUsers: deps.adminUsers, userImport: deps.userImport, sessions, guard, signingKeys, mfa }),
    ...passkeyOperations({ passkeys: deps.passkeys, sessions, guard, attempts, audit: deps.audit, accessTokens, config, mailer }),
    ...profileOperations({ clock, config, accountDeletion: deps.accountDeletion, mailer, invalidations: deps.invalidations, organizations: deps.organizations }),
    ...organizationOperations({ organizations: deps.organizations, accessTokens, mailer }),
    ...webhookOperations({ webhookEndpoints: deps.webhookEndpoints, webhooks: deps.webhooks }),
  };
}

/** What each operation asks of the middleware (audit action, rate limit, sign-in metric), declared by its module. */
export const operationPolicies: OperationPolicies = {
  ...registrationPolicies,
  ...signInPolicies,
  ...sessionPolicies,
  ...passwordPolicies,
  ...mfaPolicies,
  ...socialPolicies,
  ...adminPolicies,
  ...profilePolicies,
  ...passkeyPolicies,
  ...organizationPolicies,
  ...webhookPolicies,
};
