/**
 * The journey through a client made by openapi-typescript-codegen (`--client fetch`, its default enums): static
 * services per tag, the access token through `OpenAPI.TOKEN`, error answers thrown as `ApiError`.
 */
import {
  ApiError,
  MfaChallenge,
  MfaMethod,
  MultiFactorService,
  OpenAPI,
  ProfileService,
  RefreshTokenDelivery,
  RegistrationService,
  SignInService,
} from '../clients/openapi-typescript-codegen';
import { check, type JourneyContext, type JourneyResult } from './journey';

export async function run({ email, password, verificationToken, signInCode }: JourneyContext): Promise<JourneyResult> {
  let accessToken = '';
  OpenAPI.TOKEN = async () => accessToken;
  const accessTokens: string[] = [];
  const refreshTokenList: string[] = [];

  const registered = await RegistrationService.register({ email, password, name: 'Codegen' });
  check(registered.message, 'register: no message');
  const user = await RegistrationService.verifyEmail({ token: await verificationToken(), password });

  const answer = await SignInService.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.BODY });
  if (answer.outcome === MfaChallenge.outcome.MFA_REQUIRED) throw new Error('login: no second factor is on yet');
  accessToken = answer.accessToken; // narrowed to TokenResponse
  accessTokens.push(accessToken);
  check(answer.refreshToken, 'login: body delivery carries the refresh token');

  const me = await ProfileService.getMe();
  check(me.id === user.id, 'getMe: another user');

  const refreshed = await SignInService.refreshTokens(undefined, { refreshToken: answer.refreshToken });
  check(refreshed.refreshToken && refreshed.refreshToken !== answer.refreshToken, 'refreshTokens rotates the refresh token');
  refreshTokenList.push(answer.refreshToken, refreshed.refreshToken);
  accessToken = refreshed.accessToken;
  accessTokens.push(accessToken);

  await SignInService.logout();
  const afterLogoutStatus = await ProfileService.getMe().then(
    () => 200,
    (error: unknown) => (error instanceof ApiError ? error.status : 0),
  );

  const again = await SignInService.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.BODY });
  if (again.outcome === MfaChallenge.outcome.MFA_REQUIRED) throw new Error('login: no second factor is on yet');
  accessToken = again.accessToken;
  accessTokens.push(accessToken);
  const enabled = await MultiFactorService.enableEmailOtp({ password });
  check(enabled.emailOtpEnabled, 'enableEmailOtp: still off');

  const challenge = await SignInService.login({ email, password, refreshTokenDelivery: RefreshTokenDelivery.BODY });
  if (challenge.outcome !== MfaChallenge.outcome.MFA_REQUIRED) throw new Error('login: expected an MFA challenge');
  const finished = await MultiFactorService.verifyMfa({ challengeId: challenge.challengeId, code: await signInCode(), method: MfaMethod.EMAIL });
  accessTokens.push(finished.accessToken);

  return {
    userId: user.id,
    accessTokens,
    refreshTokens: refreshTokenList,
    afterLogoutStatus,
    challengeMethods: challenge.methods,
    mfaOutcome: finished.outcome,
  };
}
