import type { EntityManager } from '@mikro-orm/core';
import { UserSchema } from '../../db/entities.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import type { ClientInfo } from '../../http/context.js';
import { ProblemError } from '../../http/problem.js';
import { normaliseEmail } from '../users/views.js';
import type { IssuedSession, Sessions } from './sessions.js';

/**
 * Email and password to a new session. An unknown email still costs one bcrypt comparison (against a decoy hash),
 * so the answer and its timing are the same as for a wrong password.
 */
export async function signInWithPassword(
  em: EntityManager,
  deps: { hasher: PasswordHasher; sessions: Sessions },
  input: { email: string; password: string; client: ClientInfo },
): Promise<IssuedSession> {
  const user = await em.findOne(UserSchema, { email: normaliseEmail(input.email), deletedAt: null }, { populate: ['passwordHash'] });
  const matches = await deps.hasher.verify(input.password, user?.passwordHash ?? '');
  if (!user || !user.passwordHash || !matches) throw new ProblemError('invalid-credentials');
  if (deps.hasher.needsRehash(user.passwordHash)) {
    // BCRYPT_COST changed since this hash was made: store one at the current cost.
    user.passwordHash = await deps.hasher.hash(input.password);
  }
  return deps.sessions.start(em, user, input.client);
}
