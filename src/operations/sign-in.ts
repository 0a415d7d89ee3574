import { accountAimedAt, signInWithPassword, type SignInDeps } from '../domain/sign-in/sign-in.js';
import type { AccessTokens } from '../domain/tokens/access-tokens.js';
import type { Config } from '../config/load.js';
import { clientInfo } from '../http/context.js';
import { clearRefreshCookie, cookiePolicyOf, refreshCookieOf } from '../http/refresh-cookie.js';
import { ProblemError } from '../domain/kernel/problem.js';
import { originGuard } from '../http/origin-check.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';
import { tokenResponder } from './token-response.js';

export interface SignInOperationDeps extends SignInDeps {
  accessTokens: AccessTokens;
  config: Config;
  mailer: MailKick;
}

/** Audit actions, rate limits and the sign-in metric of these operations (see OperationPolicy). */
export const signInPolicies: OperationPolicies<'login' | 'refreshTokens' | 'logout' | 'logoutAll'> = {
  login: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  logout: { audit: 'session.ended' },
  logoutAll: { audit: 'session.ended-all' },
};

export const signInOperations: OperationGroup<'login' | 'refreshTokens' | 'logout' | 'logoutAll', SignInOperationDeps> = (services) => {
  const { sessions, mailer } = services;
  const cookiePolicy = cookiePolicyOf(services.config);
  const assertAllowedOrigin = originGuard(services.config);
  const tokenResponse = tokenResponder(services.accessTokens, services.config);

  return {
    async login({ body, ctx }) {
      const delivery = body.refreshTokenDelivery ?? 'cookie';
      const outcome = await signInWithPassword(ctx.state.em, services, {
        email: body.email,
        password: body.password,
        client: clientInfo(ctx),
        delivery,
      })
        .catch(async (error) => {
          // The audit event of a failed sign-in names the account it was aimed at, when there is one.
          const target = await accountAimedAt(ctx.state.em, body.email);
          ctx.state.audit = { targetUserId: target.userId, details: { email: target.email } };
          throw error;
        })
        .finally(() => mailer.kick()); // a lockout, new-device or sign-in-code mail may be queued, failure or not
      if (outcome.kind === 'session') return tokenResponse(ctx, outcome.issued, delivery);
      ctx.state.audit = { action: 'user.sign-in-mfa-required', targetUserId: outcome.challenge.userId, actorUserId: outcome.challenge.userId };
      ctx.set('Cache-Control', 'no-store');
      return {
        status: 200,
        body: {
          outcome: 'mfa-required' as const,
          mfaRequired: true as const,
          challengeId: outcome.challenge.id,
          methods: outcome.methods,
          expiresAt: outcome.challenge.expiresAt.toISOString(),
        },
      };
    },

    async refreshTokens({ body, ctx }) {
      assertAllowedOrigin(ctx);
      const fromBody = body?.refreshToken;
      const presented = fromBody ?? refreshCookieOf(ctx);
      if (!presented) throw new ProblemError('invalid-refresh-token', { detail: 'Send the refresh token in the body or the cookie.' });
      const issued = await sessions.rotate(ctx.state.em, presented);
      return tokenResponse(ctx, issued, fromBody ? 'body' : 'cookie');
    },

    async logout({ body, ctx }) {
      assertAllowedOrigin(ctx);
      let sessionId = ctx.state.principal?.sessionId;
      if (!sessionId) {
        const presented = body?.refreshToken ?? refreshCookieOf(ctx);
        const session = presented ? await sessions.findByRefreshToken(ctx.state.em, presented) : null;
        if (!session) {
          clearRefreshCookie(ctx, cookiePolicy);
          throw new ProblemError('invalid-refresh-token', { detail: 'Send an access token, or the refresh token of a live session.' });
        }
        sessionId = session.id;
      }
      await sessions.revoke(ctx.state.em, sessionId, 'logout');
      clearRefreshCookie(ctx, cookiePolicy);
      return { status: 204 };
    },

    async logoutAll({ ctx }) {
      await sessions.revokeAllOf(ctx.state.em, ctx.state.principal!.userId, 'logout-all');
      clearRefreshCookie(ctx, cookiePolicy);
      return { status: 204 };
    },
  };
};
