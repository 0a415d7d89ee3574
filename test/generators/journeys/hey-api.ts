/**
 * The journey through a client made by @hey-api/openapi-ts (fetch client), used as its documentation shows: the
 * generated functions with the default client, and the access token through the client's `auth` option.
 */
import { client } from '../clients/hey-api/client.gen';
import { enableEmailOtp, getMe, login, logout, refreshTokens, register, verifyEmail, verifyMfa } from '../clients/hey-api/sdk.gen';
import { check, type JourneyContext, type JourneyResult } from './journey';

export async function run({ email, password, verificationToken, signInCode }: JourneyContext): Promise<JourneyResult> {
  let accessToken = '';
  client.setConfig({ auth: () => accessToken });
  const accessTokens: string[] = [];
  const refreshTokenList: string[] = [];

  const registered = await register({ body: { email, password, name: 'Hey Api' } });
  check(registered.response.status === 202, `register: ${registered.response.status}`);
  const verified = await verifyEmail({ body: { token: await verificationToken(), password } });
  check(verified.data, `verifyEmail: ${JSON.stringify(verified.error)}`);
  const userId: string = verified.data.id;

  const signedIn = await login({ body: { email, password, refreshTokenDelivery: 'body' } });
  check(signedIn.data, `login: ${JSON.stringify(signedIn.error)}`);
  const answer = signedIn.data;
  if (answer.outcome === 'mfa-required') throw new Error('login: no second factor is on yet');
  accessToken = answer.accessToken; // narrowed to TokenResponse
  accessTokens.push(accessToken);
  check(answer.refreshToken, 'login: body delivery carries the refresh token');

  const me = await getMe();
  check(me.data?.id === userId, `getMe: ${JSON.stringify(me.error)}`);

  const refreshed = await refreshTokens({ body: { refreshToken: answer.refreshToken } });
  check(refreshed.data?.refreshToken, `refreshTokens: ${JSON.stringify(refreshed.error)}`);
  check(refreshed.data.refreshToken !== answer.refreshToken, 'refreshTokens rotates the refresh token');
  refreshTokenList.push(answer.refreshToken, refreshed.data.refreshToken);
  accessToken = refreshed.data.accessToken;
  accessTokens.push(accessToken);

  const signedOut = await logout();
  check(signedOut.response.status === 204, `logout: ${signedOut.response.status}`);
  const afterLogout = await getMe();
  check(afterLogout.error, 'getMe after logout must fail');

  // The MFA branch: turn email codes on, sign in again, finish with the mailed code.
  const again = await login({ body: { email, password, refreshTokenDelivery: 'body' } });
  check(again.data && !again.data.mfaRequired, `login: ${JSON.stringify(again.error)}`);
  accessToken = again.data.accessToken; // narrowed by `mfaRequired` alone: hey-api keeps boolean literals
  accessTokens.push(accessToken);
  const enabled = await enableEmailOtp({ body: { password } });
  check(enabled.data?.emailOtpEnabled === true, `enableEmailOtp: ${JSON.stringify(enabled.error)}`);

  const challenged = await login({ body: { email, password, refreshTokenDelivery: 'body' } });
  check(challenged.data, `login: ${JSON.stringify(challenged.error)}`);
  const challenge = challenged.data;
  if (challenge.outcome !== 'mfa-required') throw new Error('login: expected an MFA challenge');
  const finished = await verifyMfa({ body: { challengeId: challenge.challengeId, code: await signInCode(), method: 'email' } });
  check(finished.data, `verifyMfa: ${JSON.stringify(finished.error)}`);
  accessTokens.push(finished.data.accessToken);

  return {
    userId,
    accessTokens,
    refreshTokens: refreshTokenList,
    afterLogoutStatus: afterLogout.response.status,
    challengeMethods: challenge.methods,
    mfaOutcome: finished.data.outcome,
  };
}
