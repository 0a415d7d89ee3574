import { stringifySetCookie } from 'cookie';
import type { AppContext } from './context.js';

export const REFRESH_COOKIE = 'pulse_auth_refresh';
/** The cookie goes only to the auth routes (refresh, logout), never to the rest of the API. */
const COOKIE_PATH = '/v1/auth';

export interface CookiePolicy {
  secure: boolean;
}

/** `Secure` whenever the public URL is https (TLS may end at a proxy, so the request itself is not the guide). */
export const cookiePolicyOf = (config: { PUBLIC_URL: string }): CookiePolicy => ({ secure: config.PUBLIC_URL.startsWith('https:') });

export function setRefreshCookie(ctx: AppContext, policy: CookiePolicy, token: string, expiresAt: Date): void {
  ctx.append(
    'Set-Cookie',
    stringifySetCookie({ name: REFRESH_COOKIE, value: token, httpOnly: true, sameSite: 'strict', secure: policy.secure, path: COOKIE_PATH, expires: expiresAt }),
  );
}

export function clearRefreshCookie(ctx: AppContext, policy: CookiePolicy): void {
  ctx.append(
    'Set-Cookie',
    stringifySetCookie({ name: REFRESH_COOKIE, value: '', httpOnly: true, sameSite: 'strict', secure: policy.secure, path: COOKIE_PATH, expires: new Date(0) }),
  );
}

export const refreshCookieOf = (ctx: AppContext): string | undefined => ctx.state.cookies[REFRESH_COOKIE] || undefined;
