/**
 * What the generator matrix (test/generators/matrix.test.ts) hands each journey: a fresh account's credentials and
 * the mail it receives. The journeys never get the server's URL: each client must find it in the spec.
 */
export interface JourneyContext {
  email: string;
  password: string;
  /** The token of the verification link mailed to `email`. */
  verificationToken(): Promise<string>;
  /** The 6-digit code of the next sign-in code mail to `email`. */
  signInCode(): Promise<string>;
}

/** What a journey saw, for the matrix to compare across generators. */
export interface JourneyResult {
  userId: string;
  /** The access tokens it held, in order (so the matrix can check none was sent where it does not belong). */
  accessTokens: string[];
  refreshTokens: string[];
  /** getMe with the signed-out session's access token answered this status. */
  afterLogoutStatus: number;
  /** The methods of the MFA challenge, and the outcome of verifyMfa. */
  challengeMethods: string[];
  mfaOutcome: string;
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}
