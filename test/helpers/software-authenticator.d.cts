/** Types of software-authenticator.cjs (the contract hooks load it as CommonJS; TypeScript tests through software-authenticator.ts). */
import type { KeyObject } from 'node:crypto';

export type Cbor = number | string | Uint8Array | boolean | Cbor[] | Map<number | string, Cbor>;
export function cbor(value: Cbor): Buffer;

export const FLAG_UP: number;
export const FLAG_UV: number;
export const FLAG_BE: number;
export const FLAG_BS: number;
export const FLAG_AT: number;

export interface StoredCredential {
  id: Buffer;
  rpId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  userHandle: string;
  counter: number;
}

/** How an answer is bent: another origin or RP ID than the real ones, other flags, a chosen counter, another key. */
export interface Bend {
  origin?: string;
  rpId?: string;
  /** Defaults to UP | UV (| AT on a registration). */
  flags?: number;
  counter?: number;
  /** webauthn.create / webauthn.get by default. */
  type?: string;
  /** Sign with this key instead of the credential's (a forged answer). */
  signWith?: KeyObject;
  userHandle?: string;
}

export interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: Array<{ alg: number }>;
}

export interface RequestOptions {
  challenge: string;
  rpId?: string;
}

export interface RegistrationJSON {
  id: string;
  rawId: string;
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, never>;
  type: 'public-key';
}

export interface AuthenticationJSON {
  id: string;
  rawId: string;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle: string };
  authenticatorAttachment: 'platform';
  clientExtensionResults: Record<string, never>;
  type: 'public-key';
}

export class SoftwareAuthenticator {
  constructor(origin: string);
  readonly credentials: StoredCredential[];
  register(options: CreationOptions, bend?: Bend, reuse?: StoredCredential): { credential: StoredCredential; json: RegistrationJSON };
  authenticate(options: RequestOptions, credential?: StoredCredential, bend?: Bend): AuthenticationJSON;
}
