/**
 * The journey through a client made by orval (its `fetch` client, base URL taken from the spec): each function
 * answers `{ data, status, headers }`, typed per documented status; the access token goes in as a header.
 */
import { enableEmailOtp, getMe, login, logout, refreshTokens, register, verifyEmail, verifyMfa } from '../clients/orval/api';
import { check, type JourneyContext, type JourneyResult } from './journey';

const bearer = (token: string): RequestInit => ({ headers: { Authorization: `Bearer ${token}` } });

export async function run({ email, password, verificationToken, signInCode }: JourneyContext): Promise<JourneyResult> {
  const accessTokens: string[] = [];
  const refreshTokenList: string[] = [];

  const registered = await register({ email, password, name: 'Orval' });
  check(registered.status === 202, `register: ${registered.status}`);
  const verified = await verifyEmail({ token: await verificationToken(), password });
  if (verified.status !== 200) throw new Error(`verifyEmail: ${JSON.stringify(verified.data)}`);
  const userId = verified.data.id;

  const signedIn = await login({ email, password, refreshTokenDelivery: 'body' });
  if (signedIn.status !== 200) throw new Error(`login: ${JSON.stringify(signedIn.data)}`);
  const answer = signedIn.data;
  if (answer.outcome === 'mfa-required') throw new Error('login: no second factor is on yet');
  let accessToken = answer.accessToken; // narrowed to TokenResponse
  accessTokens.push(accessToken);
  check(answer.refreshToken, 'login: body delivery carries the refresh token');

  const me = await getMe(bearer(accessToken));
  check(me.status === 200 && me.data.id === userId, `getMe: ${me.status}`);

  const refreshed = await refreshTokens({ refreshToken: answer.refreshToken });
  if (refreshed.status !== 200) throw new Error(`refreshTokens: ${JSON.stringify(refreshed.data)}`);
  check(refreshed.data.refreshToken && refreshed.data.refreshToken !== answer.refreshToken, 'refreshTokens rotates the refresh token');
  refreshTokenList.push(answer.refreshToken, refreshed.data.refreshToken);
  accessToken = refreshed.data.accessToken;
  accessTokens.push(accessToken);

  const signedOut = await logout(undefined, bearer(accessToken));
  check(signedOut.status === 204, `logout: ${signedOut.status}`);
  const afterLogout = await getMe(bearer(accessToken));

  const again = await login({ email, password, refreshTokenDelivery: 'body' });
  if (again.status !== 200 || again.data.outcome !== 'signed-in') throw new Error(`login: ${JSON.stringify(again.data)}`);
  accessToken = again.data.accessToken;
  accessTokens.push(accessToken);
  const enabled = await enableEmailOtp({ password }, bearer(accessToken));
  check(enabled.status === 200 && enabled.data.emailOtpEnabled, `enableEmailOtp: ${enabled.status}`);

  const challenged = await login({ email, password, refreshTokenDelivery: 'body' });
  if (challenged.status !== 200) throw new Error(`login: ${JSON.stringify(challenged.data)}`);
  const challenge = challenged.data;
  if (challenge.outcome !== 'mfa-required') throw new Error('login: expected an MFA challenge');
  const finished = await verifyMfa({ challengeId: challenge.challengeId, code: await signInCode(), method: 'email' });
  if (finished.status !== 200) throw new Error(`verifyMfa: ${JSON.stringify(finished.data)}`);
  accessTokens.push(finished.data.accessToken);

  return {
    userId,
    accessTokens,
    refreshTokens: refreshTokenList,
    afterLogoutStatus: afterLogout.status,
    challengeMethods: challenge.methods,
    mfaOutcome: finished.data.outcome,
  };
}
