import { toSessionView } from '../domain/users/views.js';
import { ProblemError } from '../domain/kernel/problem.js';
import type { Sessions } from '../domain/sessions/sessions.js';
import type { LoginAttempts } from '../domain/sessions/login-attempts.js';
import type { OperationGroup, OperationPolicies } from './group.js';

export interface SessionDeps {
  sessions: Sessions;
  attempts: LoginAttempts;
}

/** Audit actions of these operations (see OperationPolicy). */
export const sessionPolicies: OperationPolicies<'listMySessions' | 'revokeMySession' | 'listMyLoginHistory'> = {
  revokeMySession: { audit: 'session.revoked' },
};

export const sessionOperations: OperationGroup<'listMySessions' | 'revokeMySession' | 'listMyLoginHistory', SessionDeps> = ({ sessions, attempts }) => ({
  async listMySessions({ ctx }) {
    const { userId, sessionId } = ctx.state.principal!;
    const live = await sessions.listLive(ctx.state.em, userId);
    return { status: 200, body: { items: live.map((session) => toSessionView(session, sessionId)) } };
  },

  async revokeMySession({ path, ctx }) {
    // Another account's session answers exactly like a missing one: 404, never 403.
    if (!(await sessions.revokeOwn(ctx.state.em, ctx.state.principal!.userId, path.sessionId))) {
      throw new ProblemError('not-found', { detail: 'There is no live session with this id.' });
    }
    return { status: 204 };
  },

  async listMyLoginHistory({ query, ctx }) {
    const page = await attempts.history(ctx.state.em, ctx.state.principal!.userId, { limit: query.limit ?? 20, cursor: query.cursor });
    return { status: 200, body: page };
  },
});
