import { accountAimedAt, signInWithPassword, type SignInDeps, type SignInOutcome } from '../domain/sign-in/sign-in.js';
import type { EmailSignIns } from '../domain/sign-in/email-sign-in.js';
import type { AppContext } from '../http/context.js';
import { ACCEPTED } from './registration.js';
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
  emailSignIns: EmailSignIns;
}

type Ids = 'login' | 'refreshTokens' | 'logout' | 'logoutAll' | 'requestEmailSignIn' | 'finishEmailSignIn';

/** Audit actions, rate limits and the sign-in metric of these operations (see OperationPolicy). */
export const signInPolicies: OperationPolicies<Ids> = {
  login: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  // Mails anyone who asks (per IP and per email, like forgotPassword); the finish guesses at a code or spends a link.
  requestEmailSignIn: { rateLimited: true },
  finishEmailSignIn: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  logout: { audit: 'session.ended' },
  logoutAll: { audit: 'session.ended-all' },
};

export const signInOperations: OperationGroup<Ids, SignInOperationDeps> = (services) => {
  const { sessions, mailer, emailSignIns, config } = services;
  const cookiePolicy = cookiePolicyOf(services.config);
  const assertAllowedOrigin = originGuard(services.config);
  const tokenResponse = tokenResponder(services.accessTokens, services.config);
  const assertEmailSignInOn = () => {
    if (!config.EMAIL_SIGN_IN) throw new ProblemError('not-found', { detail: 'Email sign-in is turned off on this server.' });
  };

  /** The answer of a first-factor sign-in (login, finishEmailSignIn): tokens, or the MFA challenge. */
  const signInAnswer = (ctx: AppContext, outcome: SignInOutcome, delivery: 'cookie' | 'body') => {
    if (outcome.kind === 'session') return tokenResponse(ctx, outcome.issued, delivery);
    ctx.state.audit = { action: 'user.sign-in-mfa-required', targetUserId: outcome.challenge.userId, actorUserId: outcome.challenge.userId };
    ctx.set('Cache-Control', 'no-store');
    return {
      status: 200 as const,
      body: {
        outcome: 'mfa-required' as const,
        mfaRequired: true as const,
        challengeId: outcome.challenge.id,
        methods: outcome.methods,
        expiresAt: outcome.challenge.expiresAt.toISOString(),
      },
    };
  };

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
      return signInAnswer(ctx, outcome, delivery);
    },

    async requestEmailSignIn({ body }) {
      assertEmailSignInOn();
      // The work happens after the answer, so that known and unknown emails answer alike (see EmailSignIns.request).
      emailSignIns.request(body.email, () => mailer.kick());
      return { status: 202, body: ACCEPTED };
    },

    async finishEmailSignIn({ body, ctx }) {
      assertEmailSignInOn();
      const delivery = body.refreshTokenDelivery ?? 'cookie';
      const client = clientInfo(ctx);
      const email = 'email' in body ? body.email : undefined;
      const outcome = await ('token' in body
        ? emailSignIns.signInWithLink(ctx.state.em, services, { token: body.token, client, delivery })
        : emailSignIns.signInWithCode(ctx.state.em, services, { email: body.email, code: body.code, client, delivery })
      )
        .catch(async (error) => {
          const target = email ? await accountAimedAt(ctx.state.em, email) : null;
          ctx.state.audit = { targetUserId: target?.userId ?? null, details: target ? { email: target.email, method: 'email-sign-in' } : { method: 'email-sign-in' } };
          throw error;
        })
        .finally(() => mailer.kick());
      if (outcome.kind === 'session') ctx.state.audit = { details: { method: 'email-sign-in' } };
      return signInAnswer(ctx, outcome, delivery);
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
