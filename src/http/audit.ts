import type { Middleware } from 'koa';
import type { AppState, AppContext } from './context.js';
import type { AuditLog } from '../domain/audit/audit-log.js';

/** Failures worth a trail: refused credentials, refused permissions, conflicts, lockouts. Not malformed requests. */
const AUDITED_FAILURES = new Set([401, 403, 409, 429]);

/**
 * Writes an audit event for every security-relevant operation, once its outcome is known: who (the signed-in
 * caller, or the user who just signed in), whom (the path's user, or the caller), what, from where.
 */
export function auditTrail(audit: AuditLog): Middleware<AppState> {
  return async function recordAuditEvent(ctx, next) {
    // Errors are rendered further out (problemResponses): their status and code come from the error itself.
    let failure: { status: number; code?: string } | undefined;
    try {
      await next();
    } catch (error) {
      const problem = error as { status?: number; code?: string };
      failure = { status: typeof problem.status === 'number' ? problem.status : 500, code: problem.code };
      throw error;
    } finally {
      const operationId = ctx.state.operation?.operationId;
      // The action each audited operation records (its module's policy); a handler may refine it in ctx.state.audit.
      const action = ctx.state.operation?.policy.audit;
      const status = failure?.status ?? ctx.status;
      const succeeded = status < 400;
      if (action && (succeeded || AUDITED_FAILURES.has(status))) {
        const note = ctx.state.audit ?? {};
        if (!note.action && !succeeded && action === 'user.signed-in') note.action = 'user.sign-in-failed';
        const signedIn = failure ? undefined : signedInUser(ctx);
        await audit.record({
          action: note.action ?? action,
          outcome: note.outcome ?? (succeeded ? 'success' : 'failure'),
          actorUserId: note.actorUserId ?? ctx.state.principal?.userId ?? signedIn ?? null,
          targetUserId: note.targetUserId ?? ctx.state.input?.path.userId ?? ctx.state.principal?.userId ?? signedIn ?? null,
          ip: ctx.ip || null,
          userAgent: ctx.get('user-agent') || null,
          details: { operationId, ...(succeeded ? {} : { status, code: failure?.code }), ...note.details },
        });
      }
    }
  };
}

/** The user a token response is for (login, verifyMfa), or the one an email verification created. */
function signedInUser(ctx: AppContext): string | undefined {
  const body = ctx.body as { user?: { id?: string }; id?: string; email?: string } | undefined;
  if (ctx.status >= 400 || !body || typeof body !== 'object') return undefined;
  return body.user?.id ?? (body.email && body.id ? body.id : undefined);
}
