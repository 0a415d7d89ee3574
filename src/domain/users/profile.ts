import type { EntityManager } from '@mikro-orm/core';
import { UserSchema } from '../../db/entities.js';
import { ProblemError } from '../kernel/problem.js';
import { toUserView, type UserView } from './views.js';
import { userData, webhookEvents } from '../webhooks/events.js';

/** Changes what the account holder may change of their own account (updateMe): today, the display name. */
export async function updateProfile(em: EntityManager, userId: string, changes: { name?: string | null }, now: Date): Promise<UserView> {
  const user = await em.findOne(UserSchema, { id: userId });
  // The session check passed, so the account existed a moment ago; treat a vanished one like an ended session.
  if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
  if (changes.name !== undefined) user.name = changes.name;
  user.updatedAt = now;
  await webhookEvents.emit(em, now, 'user.updated', userData(user));
  await em.flush();
  return toUserView(user);
}
