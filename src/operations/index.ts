import type { Handlers } from '../http/operation.js';
import type { Services } from '../services.js';
import { healthOperations } from './health.js';
import { passwordOperations } from './passwords.js';
import { mfaOperations } from './mfa.js';
import { socialOperations } from './social.js';
import { adminOperations } from './admin.js';
import { sessionOperations } from './sessions.js';
import { profileOperations } from './profile.js';
import { registrationOperations } from './registration.js';
import { signInOperations } from './sign-in.js';

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
