'use strict';
/**
 * A passkey authenticator in software, for the tests: an ES256 key per credential (node:crypto), the CBOR
 * attestation object with `none` attestation, and authenticator data with the UP/UV/AT flags and a signature counter,
 * built byte by byte as WebAuthn Level 3 (§6.1, §6.5) describes them. It answers the JSON options of the API with the
 * JSON forms a browser's `credential.toJSON()` gives, and each answer can be bent (origin, RP ID, flags, counter, key)
 * to play an attacker or a broken device. CommonJS so that the dredd hooks (test/contract) load it as it is;
 * TypeScript tests import it through software-authenticator.ts (types in software-authenticator.d.cts).
 */
const { createHash, generateKeyPairSync, randomBytes, sign } = require('node:crypto');

// ---- CBOR (RFC 8949): the few major types an attestation object and a COSE key use ----

function head(major, value) {
  if (value < 24) return Buffer.from([(major << 5) | value]);
  if (value < 0x100) return Buffer.from([(major << 5) | 24, value]);
  if (value < 0x10000) return Buffer.from([(major << 5) | 25, value >> 8, value & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = (major << 5) | 26;
  out.writeUInt32BE(value, 1);
  return out;
}

/** Encodes integers, text, byte strings (Uint8Array), booleans, arrays and Maps (keys in their insertion order). */
function cbor(value) {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'boolean') return Buffer.from([value ? 0xf5 : 0xf4]);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const entries = [...value.entries()];
    return Buffer.concat([head(5, entries.length), ...entries.flatMap(([key, item]) => [cbor(key), cbor(item)])]);
  }
  throw new TypeError(`cbor: cannot encode ${typeof value}`);
}

// ---- WebAuthn ----

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const sha256 = (data) => createHash('sha256').update(data).digest();

class SoftwareAuthenticator {
  /** @param origin the origin the "browser" reports in the client data (the page's). */
  constructor(origin) {
    this.origin = origin;
    this.credentials = [];
  }

  /** Makes a new credential for the creation options (or registers `reuse` again) and answers like `credential.toJSON()`. */
  register(options, bend = {}, reuse) {
    if (!options.pubKeyCredParams.some((param) => param.alg === -7)) throw new Error('the server does not offer ES256');
    const rpId = options.rp.id;
    let credential = reuse;
    if (!credential) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      credential = { id: randomBytes(32), rpId, privateKey, publicKey, userHandle: options.user.id, counter: bend.counter ?? 0 };
      this.credentials.push(credential);
    }
    const jwk = credential.publicKey.export({ format: 'jwk' });
    const coseKey = new Map([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x, 'base64url')],
      [-3, Buffer.from(jwk.y, 'base64url')],
    ]);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID: none */, idLength, credential.id, cbor(coseKey)]);
    const authData = authenticatorData(bend.rpId ?? rpId, bend.flags ?? FLAG_UP | FLAG_UV | FLAG_AT, bend.counter ?? credential.counter, attested);
    const attestationObject = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const clientDataJSON = this.clientData(bend.type ?? 'webauthn.create', options.challenge, bend.origin);
    return {
      credential,
      json: {
        id: b64url(credential.id),
        rawId: b64url(credential.id),
        response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal', 'hybrid'] },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
        type: 'public-key',
      },
    };
  }

  /**
   * Signs a discoverable-credential sign-in with `credential` (the newest by default): authenticator data with the
   * next counter, and an ES256 signature (DER) over it and the hash of the client data.
   */
  authenticate(options, credential = this.credentials[this.credentials.length - 1], bend = {}) {
    const counter = bend.counter ?? credential.counter + 1;
    credential.counter = counter;
    const authData = authenticatorData(bend.rpId ?? options.rpId ?? credential.rpId, bend.flags ?? FLAG_UP | FLAG_UV, counter);
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
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      type: 'public-key',
    };
  }

  clientData(type, challenge, origin = this.origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }
}

/** RP ID hash (32) | flags (1) | signature counter (4, big-endian) | attested credential data, when registering. */
function authenticatorData(rpId, flags, counter, attested) {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(counter);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
}

module.exports = { SoftwareAuthenticator, cbor, FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT };
