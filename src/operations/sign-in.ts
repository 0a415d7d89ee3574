import { signInWithPassword, signInWithSecondFactor } from '../domain/sessions/sign-in.js';
import type { IssuedSession } from '../domain/sessions/sessions.js';
import { normaliseEmail, toSessionView, toUserView } from '../domain/users/views.js';
import { UserSchema } from '../db/entities.js';
import { clientInfo, type AppContext } from '../http/context.js';
import { clearRefreshCookie, cookiePolicyOf, refreshCookieOf, setRefreshCookie } from '../http/refresh-cookie.js';
import { ProblemError } from '../domain/kernel/problem.js';
import { originGuard } from '../http/origin-check.js';
import type { OperationGroup, OperationPolicies } from './group.js';
import type { components } from '../../generated/openapi.js';

type Delivery = components['schemas']['RefreshTokenDelivery'];

/** Audit actions, rate limits and the sign-in metric of these operations (see OperationPolicy). */
export const signInPolicies: OperationPolicies<'login' | 'verifyMfa' | 'refreshTokens' | 'logout' | 'logoutAll'> = {
  login: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  verifyMfa: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  logout: { audit: 'session.ended' },
  logoutAll: { audit: 'session.ended-all' },
};

export const signInOperations: OperationGroup<'login' | 'verifyMfa' | 'refreshTokens' | 'logout' | 'logoutAll'> = (services) => {
  const { sessions, mailer } = services;
  const cookiePolicy = cookiePolicyOf(services.config);
  const assertAllowedOrigin = originGuard(services.config);

  /** The token response; the refresh token goes to the cookie or into the body, as the client asked. */
  async function tokenResponse(ctx: AppContext, issued: IssuedSession, delivery: Delivery) {
    const accessToken = await services.accessTokens.issue({
      userId: issued.user.id,
      sessionId: issued.session.id,
      role: issued.user.role,
    });
    if (delivery === 'cookie') setRefreshCookie(ctx, cookiePolicy, issued.refreshToken, issued.session.expiresAt);
    ctx.set('Cache-Control', 'no-store');
    return {
      status: 200 as const,
      body: {
        // What a client narrows `login`'s answer on (an MfaChallenge has `mfa-required` and `true`).
        outcome: 'signed-in' as const,
        mfaRequired: false as const,
        accessToken,
        tokenType: 'Bearer' as const,
        expiresIn: services.accessTokens.ttlSeconds,
        ...(delivery === 'body' ? { refreshToken: issued.refreshToken } : {}),
        user: toUserView(issued.user),
        session: toSessionView(issued.session, issued.session.id),
      },
    };
  }

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
          const email = normaliseEmail(body.email);
          const target = await ctx.state.em.findOne(UserSchema, { email }, { fields: ['id'] });
          ctx.state.audit = { targetUserId: target?.id ?? null, details: { email } };
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

    async verifyMfa({ body, ctx }) {
      const completed = await signInWithSecondFactor(ctx.state.em, services, { ...body, client: clientInfo(ctx) }).finally(() => mailer.kick());
      if (!completed.ok) {
        ctx.state.audit = { action: 'user.mfa-failed', targetUserId: completed.user?.id ?? null };
        throw completed.problem;
      }
      ctx.state.audit = { details: { method: completed.method } };
      return tokenResponse(ctx, completed.issued, completed.challenge.refreshTokenDelivery);
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
