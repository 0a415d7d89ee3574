import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A passkey authenticator in software, for API tests: an ES256 key per credential (node:crypto), the CBOR
 * attestation object with `none` attestation, and authenticator data with the UP/UV/AT flags and a signature counter,
 * built byte by byte as WebAuthn Level 3 (§6.1, §6.5) describes them. It answers the JSON options of the API with the
 * JSON forms a browser's `credential.toJSON()` gives, and each answer can be bent (origin, RP ID, flags, counter) to
 * play an attacker or a broken device.
 */

// ---- CBOR (RFC 8949): the few major types an attestation object and a COSE key use ----

type Cbor = number | string | Uint8Array | boolean | Cbor[] | Map<number | string, Cbor>;

function head(major: number, value: number): Buffer {
  if (value < 24) return Buffer.from([(major << 5) | value]);
  if (value < 0x100) return Buffer.from([(major << 5) | 24, value]);
  if (value < 0x10000) return Buffer.from([(major << 5) | 25, value >> 8, value & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = (major << 5) | 26;
  out.writeUInt32BE(value, 1);
  return out;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'boolean') return Buffer.from([value ? 0xf5 : 0xf4]);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const entries = [...value.entries()];
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([key, item]) => [cbor(key), cbor(item)])]);
}

// ---- WebAuthn ----

export const FLAG_UP = 0x01;
export const FLAG_UV = 0x04;
export const FLAG_BE = 0x08;
export const FLAG_BS = 0x10;
export const FLAG_AT = 0x40;

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

interface StoredCredential {
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

interface CreationOptions {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: Array<{ alg: number }>;
}

interface RequestOptions {
  challenge: string;
  rpId?: string;
}

export class SoftwareAuthenticator {
  readonly credentials: StoredCredential[] = [];

  constructor(private readonly origin: string) {}

  /** Makes a new credential for the creation options (or registers `reuse` again) and answers like `credential.toJSON()`. */
  register(options: CreationOptions, bend: Bend = {}, reuse?: StoredCredential) {
    if (!options.pubKeyCredParams.some((param) => param.alg === -7)) throw new Error('the server does not offer ES256');
    const rpId = options.rp.id!;
    let credential = reuse;
    if (!credential) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      credential = { id: randomBytes(32), rpId, privateKey, publicKey, userHandle: options.user.id, counter: bend.counter ?? 0 };
      this.credentials.push(credential);
    }
    const jwk = credential.publicKey.export({ format: 'jwk' });
    const coseKey = new Map<number, Cbor>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID: none */, idLength, credential.id, cbor(coseKey)]);
    const authData = this.authenticatorData(bend.rpId ?? rpId, bend.flags ?? FLAG_UP | FLAG_UV | FLAG_AT, bend.counter ?? credential.counter, attested);
    const attestationObject = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const clientDataJSON = this.clientData(bend.type ?? 'webauthn.create', options.challenge, bend.origin);
    return {
      credential,
      json: {
        id: b64url(credential.id),
        rawId: b64url(credential.id),
        response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal', 'hybrid'] },
        authenticatorAttachment: 'platform' as const,
        clientExtensionResults: {},
        type: 'public-key' as const,
      },
    };
  }

  /**
   * Signs a discoverable-credential sign-in with `credential` (the newest by default): authenticator data with the
   * next counter, and an ES256 signature over it and the hash of the client data.
   */
  authenticate(options: RequestOptions, credential: StoredCredential = this.credentials.at(-1)!, bend: Bend = {}) {
    const counter = bend.counter ?? credential.counter + 1;
    credential.counter = counter;
    const authData = this.authenticatorData(bend.rpId ?? options.rpId ?? credential.rpId, bend.flags ?? FLAG_UP | FLAG_UV, counter);
    const clientDataJSON = this.clientData(bend.type ?? 'webauthn.get', options.challenge, bend.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), bend.signWith ?? credential.privateKey);
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: bend.userHandle ?? credential.userHandle,
      },
      authenticatorAttachment: 'platform' as const,
      clientExtensionResults: {},
      type: 'public-key' as const,
    };
  }

  private authenticatorData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  private clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }
}
