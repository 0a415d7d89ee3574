import type { Handlers, OperationPolicies } from '../http/operation.js';
import type { Services } from '../services.js';
import { healthOperations } from './health.js';
import { passwordOperations, passwordPolicies } from './passwords.js';
import { mfaOperations, mfaPolicies } from './mfa.js';
import { socialOperations, socialPolicies } from './social.js';
import { adminOperations, adminPolicies } from './admin.js';
import { sessionOperations, sessionPolicies } from './sessions.js';
import { profileOperations, profilePolicies } from './profile.js';
import { registrationOperations, registrationPolicies } from './registration.js';
import { signInOperations, signInPolicies } from './sign-in.js';

/** Every operation's handler. The `Handlers` type makes a missing or mis-shaped one a compile error. */
export function createHandlers(services: Services): Handlers {
  return {
    ...healthOperations(services),
    ...registrationOperations(services),
    ...signInOperations(services),
    ...sessionOperations(services),
    ...passwordOperations(services),
    ...mfaOperations(services),
    ...socialOperations(services),
    ...adminOperations(services),
    ...profileOperations(services),
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
};
