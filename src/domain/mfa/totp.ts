import { generateSecret, generateURI, verify } from 'otplib';

/** TOTP as every authenticator app expects it: SHA-1, 6 digits, 30-second steps. */
export const newTotpSecret = (): string => generateSecret({ length: 20 });

export const totpUri = (input: { issuer: string; account: string; secret: string }): string =>
  generateURI({ issuer: input.issuer, label: input.account, secret: input.secret });

/**
 * Checks a code, allowing one step of clock drift either way, and refuses a step at or before `afterStep` (a code
 * already used). Returns the matched step, or null.
 */
export async function checkTotp(secret: string, code: string, now: Date, afterStep: number | null): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: 30,
    ...(afterStep !== null ? { afterTimeStep: afterStep } : {}),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}
