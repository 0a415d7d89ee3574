/**
 * The journey through a client made by swagger-typescript-api (its default fetch `Api` class): the access token
 * through `securityWorker` + `setSecurityData`, as its documentation shows. Error answers are thrown.
 */
import { Api, MfaMethod, RefreshTokenDelivery } from '../clients/swagger-typescript-api/api';
import { check, type JourneyContext, type JourneyResult } from './journey';

export async function run({ email, password, verificationToken, signInCode }: JourneyContext): Promise<JourneyResult> {
  const api = new Api<string>({
    securityWorker: (token) => (token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
  });
  const accessTokens: string[] = [];
  const refreshTokenList: string[] = [];

  const registered = await api.v1.register({ email, password, name: 'Swagger TS' });
  check(registered.status === 202, `register: ${registered.status}`);
  const verified = await api.v1.verifyEmail({ token: await verificationToken(), password });
  const userId = verified.data.id;

  const { data: answer } = await api.v1.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.Body });
  if (answer.mfaRequired) throw new Error('login: no second factor is on yet'); // boolean literals narrow here
  api.setSecurityData(answer.accessToken);
  accessTokens.push(answer.accessToken);
  check(answer.refreshToken, 'login: body delivery carries the refresh token');

  const me = await api.v1.getMe();
  check(me.data.id === userId, 'getMe: another user');

  const refreshed = await api.v1.refreshTokens({ refreshToken: answer.refreshToken });
  check(refreshed.data.refreshToken && refreshed.data.refreshToken !== answer.refreshToken, 'refreshTokens rotates the refresh token');
  refreshTokenList.push(answer.refreshToken, refreshed.data.refreshToken);
  api.setSecurityData(refreshed.data.accessToken);
  accessTokens.push(refreshed.data.accessToken);

  const signedOut = await api.v1.logout();
  check(signedOut.status === 204, `logout: ${signedOut.status}`);
  const afterLogoutStatus = await api.v1.getMe().then(
    (reply) => reply.status,
    (refused: Response) => refused.status,
  );

  const { data: again } = await api.v1.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.Body });
  if (again.outcome === 'mfa-required') throw new Error('login: no second factor is on yet');
  api.setSecurityData(again.accessToken);
  accessTokens.push(again.accessToken);
  const enabled = await api.v1.enableEmailOtp({ password });
  check(enabled.data.emailOtpEnabled, 'enableEmailOtp: still off');

  const { data: challenge } = await api.v1.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.Body });
  if (!challenge.mfaRequired) throw new Error('login: expected an MFA challenge');
  const finished = await api.v1.verifyMfa({ challengeId: challenge.challengeId, code: await signInCode(), method: MfaMethod.Email });
  accessTokens.push(finished.data.accessToken);

  return {
    userId,
    accessTokens,
    refreshTokens: refreshTokenList,
    afterLogoutStatus,
    challengeMethods: challenge.methods,
    mfaOutcome: finished.data.outcome,
  };
}
