import type { AccessTokens } from '../domain/tokens/access-tokens.js';
import type { IssuedSession } from '../domain/sessions/sessions.js';
import { toSessionView, toUserView } from '../domain/users/views.js';
import type { AppContext } from '../http/context.js';
import { cookiePolicyOf, setRefreshCookie } from '../http/refresh-cookie.js';
import type { components } from '../../generated/openapi.js';

export type Delivery = components['schemas']['RefreshTokenDelivery'];

/**
 * The token response of a finished sign-in (login, verifyMfa) or a refresh: an access token, and the refresh token
 * in the cookie or in the body, as the client asked.
 */
export function tokenResponder(accessTokens: AccessTokens, config: { PUBLIC_URL: string }) {
  const cookiePolicy = cookiePolicyOf(config);
  return async function tokenResponse(ctx: AppContext, issued: IssuedSession, delivery: Delivery) {
    const accessToken = await accessTokens.issue({
      userId: issued.user.id,
      sessionId: issued.session.id,
      role: issued.user.role,
      organization: issued.organization ?? null,
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
        expiresIn: accessTokens.ttlSeconds,
        ...(delivery === 'body' ? { refreshToken: issued.refreshToken } : {}),
        user: toUserView(issued.user),
        session: toSessionView(issued.session, issued.session.id),
      },
    };
  };
}
