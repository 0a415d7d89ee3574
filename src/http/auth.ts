import type { EntityManager } from '@mikro-orm/core';
import { InvalidAccessToken, type AccessTokens } from '../domain/tokens/access-tokens.js';
import type { Sessions } from '../domain/sessions/sessions.js';
import { ProblemError } from '../domain/kernel/problem.js';
import type { Principal } from '../domain/kernel/actor.js';
import type { Middleware } from 'koa';
import type { AppContext, AppState } from './context.js';
import { UserSchema } from '../db/entities.js';

const challenge = (error: string, description: string) =>
  `Bearer realm="pulse-auth", error="${error}", error_description="${description}"`;

/**
 * The bearer-token check: a valid signature and claims, and a session that is still live (for an
 * organization-scoped token, still with that active organization and that role in it). The session lookup is what
 * makes sign-out, and a membership change, take effect at once rather than when the token expires.
 */
export function bearerAuthenticator(accessTokens: AccessTokens, sessions: Sessions) {
  return async function authenticate(ctx: AppContext): Promise<Principal> {
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    if (!match) {
      throw new ProblemError('authentication-required', {
        detail: header ? 'The Authorization header must be "Bearer <access token>".' : 'Send an access token.',
        headers: { 'WWW-Authenticate': header ? challenge('invalid_request', 'malformed authorization header') : 'Bearer realm="pulse-auth"' },
      });
    }
    let claims;
    try {
      claims = await accessTokens.verify(match[1]);
    } catch (error) {
      const detail = error instanceof InvalidAccessToken ? error.message : 'The access token is not valid.';
      throw new ProblemError('invalid-access-token', { detail, headers: { 'WWW-Authenticate': challenge('invalid_token', detail) } });
    }
    if (!(await sessions.isActive(ctx.state.em as EntityManager, claims.sessionId, claims.userId, ctx.state.receivedAt, claims.organization))) {
      const detail = 'The session of this access token has ended.';
      throw new ProblemError('invalid-access-token', { detail, headers: { 'WWW-Authenticate': challenge('invalid_token', detail) } });
    }
    return { userId: claims.userId, sessionId: claims.sessionId, role: claims.role, ...(claims.organization ? { organization: claims.organization } : {}) };
  };
}

/**
 * The admin-role check. It reads the role from the account, not only from the token: a demoted administrator's
 * token (valid for up to ACCESS_TOKEN_TTL) stops opening the administration API at once.
 */
export async function authorizeAdmin(ctx: AppContext): Promise<void> {
  const principal = ctx.state.principal;
  const user = principal ? await ctx.state.em.findOne(UserSchema, { id: principal.userId, deletedAt: null }, { fields: ['role', 'lockedAt'] }) : null;
  if (!principal || principal.role !== 'admin' || user?.role !== 'admin' || user.lockedAt) {
    throw new ProblemError('forbidden', { detail: 'This operation needs the admin role.' });
  }
}

/**
 * Applies the resolved operation's security requirement (`ctx.state.operation.bearer`): a bearer token required,
 * checked when sent, or not looked at; and for the operations tagged Administration, the admin role.
 */
export function securityRequirements(
  authenticate: (ctx: AppContext) => Promise<Principal>,
  authorize: (ctx: AppContext) => Promise<void> = async () => {},
): Middleware<AppState> {
  return async function checkBearerToken(ctx, next) {
    const operation = ctx.state.operation;
    if (operation) {
      if (operation.bearer === 'required' || (operation.bearer === 'optional' && ctx.get('authorization'))) {
        ctx.state.principal = await authenticate(ctx);
      }
      if (operation.adminOnly) await authorize(ctx);
    }
    await next();
  };
}
