import { UserSchema } from '../db/entities.js';
import { readUserView, toUserView } from '../domain/users/views.js';
import { ProblemError } from '../domain/kernel/problem.js';
import { clientInfo, type AppContext } from '../http/context.js';
import { clearRefreshCookie, cookiePolicyOf } from '../http/refresh-cookie.js';
import type { OperationGroup, OperationPolicies } from './group.js';

/** Audit actions and rate limits of these operations: deleteMe checks a step-up proof (see OperationPolicy). */
export const profilePolicies: OperationPolicies<'getMe' | 'updateMe' | 'deleteMe'> = {
  deleteMe: { audit: 'user.deleted', rateLimited: true },
};

export const profileOperations: OperationGroup<'getMe' | 'updateMe' | 'deleteMe'> = ({ clock, config, accountDeletion, mailer, invalidations }) => {
  async function currentUser(ctx: AppContext) {
    const user = await ctx.state.em.findOne(UserSchema, { id: ctx.state.principal!.userId });
    // The session check passed, so the account existed a moment ago; treat a vanished one like an ended session.
    if (!user) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
    return user;
  }

  return {
    // The hottest read of every client app: from the cache of account views when it can (see domain/cache).
    async getMe({ ctx }) {
      const userId = ctx.state.principal!.userId;
      const cached = await invalidations.cachedUserView(userId, ctx.state.receivedAt);
      if (cached) return { status: 200, body: cached };
      const readStartedAt = performance.now();
      const view = await readUserView(ctx.state.em, userId);
      if (!view) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
      invalidations.rememberUserView(view, readStartedAt);
      return { status: 200, body: view };
    },

    async updateMe({ body, ctx }) {
      const user = await currentUser(ctx);
      if (body.name !== undefined) user.name = body.name;
      user.updatedAt = clock.now();
      await ctx.state.em.flush();
      return { status: 200, body: toUserView(user) };
    },

    async deleteMe({ body, ctx }) {
      await accountDeletion.deleteOwn(ctx.state.em, ctx.state.principal!, body?.password, clientInfo(ctx));
      mailer.kick();
      clearRefreshCookie(ctx, cookiePolicyOf(config));
      return { status: 204 };
    },
  };
};
