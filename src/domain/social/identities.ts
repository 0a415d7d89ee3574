import type { EntityManager } from '@mikro-orm/core';
import { IdentitySchema, PasskeySchema, UserSchema } from '../../db/entities.js';
import { ProblemError } from '../kernel/problem.js';
import { webhookEvents } from '../webhooks/events.js';

/** The provider identities linked to an account, oldest first (listMyIdentities). */
export async function listIdentities(em: EntityManager, userId: string) {
  const identities = await em.find(IdentitySchema, { userId }, { orderBy: { createdAt: 'asc' } });
  return identities.map((identity) => ({
    provider: identity.provider,
    email: identity.email,
    createdAt: identity.createdAt.toISOString(),
    lastUsedAt: identity.lastUsedAt.toISOString(),
  }));
}

/**
 * Unlinks the account's identity at `provider` (unlinkIdentity). The last way in stays: an account without a
 * password or a passkey keeps its only identity until it sets one.
 */
export async function unlinkIdentity(em: EntityManager, userId: string, provider: string): Promise<void> {
  const identity = await em.findOne(IdentitySchema, { userId, provider });
  if (!identity) throw new ProblemError('not-found', { detail: `No ${provider} identity is linked to this account.` });
  const user = await em.findOneOrFail(UserSchema, { id: userId }, { populate: ['passwordHash'] });
  const others = (await em.count(IdentitySchema, { userId, id: { $ne: identity.id } })) + (await em.count(PasskeySchema, { userId }));
  if (!user.passwordHash && others === 0) {
    throw new ProblemError('last-sign-in-method', { detail: `Set a password before unlinking ${provider}.` });
  }
  await em.transactional(async (tx) => {
    if ((await tx.nativeDelete(IdentitySchema, { id: identity.id })) === 1) {
      await webhookEvents.emit(tx, new Date(), 'identity.unlinked', { userId, identity: { provider: identity.provider, email: identity.email } });
    }
  });
}
