import { readUserView } from '../domain/users/views.js';
import { updateProfile } from '../domain/users/profile.js';
import { exportUserData } from '../domain/users/data-export.js';
import { ProblemError } from '../domain/kernel/problem.js';
import { clientInfo } from '../http/context.js';
import { clearRefreshCookie, cookiePolicyOf } from '../http/refresh-cookie.js';
import type { Clock } from '../domain/kernel/clock.js';
import type { AccountDeletion } from '../domain/users/deletion.js';
import type { Invalidations } from '../domain/cache/invalidations.js';
import type { Organizations } from '../domain/organizations/organizations.js';
import type { Config } from '../config/load.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';

export interface ProfileDeps {
  clock: Clock;
  config: Config;
  accountDeletion: AccountDeletion;
  mailer: MailKick;
  /** The cache of account views that getMe reads first. */
  invalidations: Pick<Invalidations, 'cachedUserView' | 'rememberUserView'>;
  /** getMe reports the access token's organization. */
  organizations: Pick<Organizations, 'activeOrganization'>;
}

/**
 * Audit actions and rate limits of these operations: deleteMe checks a step-up proof; exportMyData reads every row
 * of the account, which is costly to repeat (see OperationPolicy).
 */
export const profilePolicies: OperationPolicies<'getMe' | 'updateMe' | 'deleteMe' | 'exportMyData'> = {
  deleteMe: { audit: 'user.deleted', rateLimited: true },
  exportMyData: { audit: 'user.data-exported', rateLimited: true },
};

export const profileOperations: OperationGroup<'getMe' | 'updateMe' | 'deleteMe' | 'exportMyData', ProfileDeps> = ({ clock, config, accountDeletion, mailer, invalidations, organizations }) => {
  return {
    // The hottest read of every client app: from the cache of account views when it can (see domain/cache).
    async getMe({ ctx }) {
      const principal = ctx.state.principal!;
      // The token's organization was checked live with the session (bearer check); only its name is read here.
      const activeOrganization = principal.organization ? await organizations.activeOrganization(ctx.state.em, principal) : null;
      const cached = await invalidations.cachedUserView(principal.userId, ctx.state.receivedAt);
      if (cached) return { status: 200, body: { ...cached, activeOrganization } };
      const readStartedAt = performance.now();
      const view = await readUserView(ctx.state.em, principal.userId);
      if (!view) throw new ProblemError('invalid-access-token', { detail: 'The account no longer exists.' });
      invalidations.rememberUserView(view, readStartedAt);
      return { status: 200, body: { ...view, activeOrganization } };
    },

    async updateMe({ body, ctx }) {
      return { status: 200, body: await updateProfile(ctx.state.em, ctx.state.principal!.userId, body, clock.now()) };
    },

    async exportMyData({ ctx }) {
      const document = await exportUserData(ctx.state.em, ctx.state.principal!, clock.now());
      ctx.set('Content-Disposition', 'attachment; filename="pulse-auth-export.json"');
      return { status: 200, body: document };
    },

    async deleteMe({ body, ctx }) {
      await accountDeletion.deleteOwn(ctx.state.em, ctx.state.principal!, body?.password, clientInfo(ctx));
      mailer.kick();
      clearRefreshCookie(ctx, cookiePolicyOf(config));
      return { status: 204 };
    },
  };
};
