import { stringifySetCookie } from 'cookie';
import { completeSignIn, type SignInDeps } from '../domain/sign-in/sign-in.js';
import { mfaMethodsOf } from '../domain/mfa/mfa.js';
import { SocialSignInFailed, type SocialSignIn } from '../domain/social/social-sign-in.js';
import type { Providers } from '../domain/social/providers.js';
import type { Reauthentication } from '../domain/users/reauthentication.js';
import type { Config } from '../config/load.js';
import { listIdentities, unlinkIdentity } from '../domain/social/identities.js';
import { clientInfo, type AppContext } from '../http/context.js';
import { cookiePolicyOf, setRefreshCookie } from '../http/refresh-cookie.js';
import { ProblemError } from '../domain/kernel/problem.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';

/** finishOAuth completes a sign-in (or starts its second factor): the sessions, attempts and mfa of SignInDeps. */
export interface SocialDeps extends Pick<SignInDeps, 'sessions' | 'attempts' | 'mfa'> {
  providers: Providers;
  socialSignIn: SocialSignIn;
  reauthentication: Reauthentication;
  config: Config;
  mailer: MailKick;
}

const BROWSER_COOKIE = 'pulse_auth_oauth';
const BROWSER_COOKIE_PATH = '/v1/auth/oauth';

/**
 * Audit actions and rate limits of these operations (see OperationPolicy): startOAuth writes a sign-in state for
 * anyone who asks, startIdentityLink checks a step-up proof.
 */
export const socialPolicies: OperationPolicies<
  'listProviders' | 'startOAuth' | 'finishOAuth' | 'listMyIdentities' | 'unlinkIdentity' | 'startIdentityLink'
> = {
  startOAuth: { rateLimited: true },
  finishOAuth: { audit: 'user.signed-in' },
  unlinkIdentity: { audit: 'identity.unlinked' },
  startIdentityLink: { audit: 'identity.link-started', rateLimited: true },
};

export const socialOperations: OperationGroup<
  'listProviders' | 'startOAuth' | 'finishOAuth' | 'listMyIdentities' | 'unlinkIdentity' | 'startIdentityLink',
  SocialDeps
> = (services) => {
  const { providers, socialSignIn, reauthentication, config, mailer } = services;
  const cookiePolicy = cookiePolicyOf(config);

  const providerOr404 = (name: string) => {
    const provider = providers.find(name);
    if (!provider) throw new ProblemError('not-found', { detail: `There is no provider named "${name}".` });
    return provider;
  };

  /** Sends the browser to the app's landing page with the outcome; never a token in the URL. */
  function toApp(ctx: AppContext, outcome: Record<string, string>) {
    ctx.set('Location', `${config.APP_URL}/oauth/complete?${new URLSearchParams(outcome)}`);
    ctx.set('Cache-Control', 'no-store');
    return { status: 302 as const };
  }

  /**
   * The cookie that ties a sign-in to the browser that started it. SameSite=Lax, not Strict: the provider's
   * redirect back is a cross-site navigation, and a Strict cookie would not come along.
   */
  function browserCookie(ctx: AppContext, value: string | null) {
    ctx.append(
      'Set-Cookie',
      stringifySetCookie({
        name: BROWSER_COOKIE,
        value: value ?? '',
        httpOnly: true,
        sameSite: 'lax',
        secure: cookiePolicy.secure,
        path: BROWSER_COOKIE_PATH,
        maxAge: value ? 600 : 0,
      }),
    );
  }

  return {
    async listProviders() {
      return {
        status: 200,
        body: {
          items: providers.list.map((provider) => ({
            name: provider.name,
            displayName: provider.displayName,
            authorizeUrl: `/v1/auth/oauth/${provider.name}/authorize`,
          })),
        },
      };
    },

    async startOAuth({ path, query, ctx }) {
      const provider = providerOr404(path.provider);
      // Linking is only ever by a ticket from startIdentityLink (a step-up proof): never by a cookie or bearer token.
      const linkTicket = query.intent === 'link' ? (query.linkTicket ?? '') : null;
      try {
        const started = await socialSignIn.start(ctx.state.em, provider, { linkTicket });
        browserCookie(ctx, started.browserSecret);
        ctx.set('Location', started.authorizationUrl);
        return { status: 302 };
      } catch (error) {
        if (error instanceof SocialSignInFailed) return toApp(ctx, { error: error.code });
        throw error;
      }
    },

    async finishOAuth({ path, ctx }) {
      const provider = providerOr404(path.provider);
      browserCookie(ctx, null);
      let finished;
      try {
        finished = await socialSignIn.finish(ctx.state.em, provider, new URLSearchParams(ctx.querystring), ctx.state.cookies[BROWSER_COOKIE]);
      } catch (error) {
        if (!(error instanceof SocialSignInFailed)) throw error;
        ctx.state.audit = { action: 'user.sign-in-failed', outcome: 'failure', details: { provider: provider.name, error: error.code } };
        return toApp(ctx, { error: error.code });
      }
      ctx.state.audit = { actorUserId: finished.user.id, targetUserId: finished.user.id, details: { provider: provider.name, linked: finished.linked } };
      const client = clientInfo(ctx);
      const methods = mfaMethodsOf(finished.user);
      if (methods.length > 0) {
        const challenge = await services.mfa.startChallenge(ctx.state.em, finished.user, client, 'cookie');
        ctx.state.audit.action = 'user.sign-in-mfa-required';
        mailer.kick();
        return toApp(ctx, { mfaChallenge: challenge.id, methods: methods.join(',') });
      }
      const issued = await completeSignIn(ctx.state.em, services, finished.user, client, 'social');
      mailer.kick();
      setRefreshCookie(ctx, cookiePolicy, issued.refreshToken, issued.session.expiresAt);
      return toApp(ctx, { provider: provider.name, ...(finished.linked ? { linked: 'true' } : {}) });
    },

    async startIdentityLink({ path, body, ctx }) {
      const provider = providerOr404(path.provider);
      const principal = ctx.state.principal!;
      const user = await reauthentication.loadUser(ctx.state.em, principal);
      await reauthentication.confirm(ctx.state.em, user, principal, body ?? {}, clientInfo(ctx));
      const started = await socialSignIn.createLinkTicket(ctx.state.em, { userId: user.id, sessionId: principal.sessionId, provider });
      ctx.set('Cache-Control', 'no-store');
      ctx.state.audit = { details: { provider: provider.name } };
      return { status: 200, body: { authorizeUrl: started.authorizeUrl, expiresAt: started.expiresAt.toISOString() } };
    },

    async listMyIdentities({ ctx }) {
      return { status: 200, body: { items: await listIdentities(ctx.state.em, ctx.state.principal!.userId) } };
    },

    async unlinkIdentity({ path, ctx }) {
      await unlinkIdentity(ctx.state.em, ctx.state.principal!.userId, path.provider);
      return { status: 204 };
    },
  };
};
