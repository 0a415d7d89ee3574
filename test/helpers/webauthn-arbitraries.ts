import fc from 'fast-check';
import { cbor, type AuthenticationJSON, type Cbor, type RegistrationJSON } from './software-authenticator.js';

/**
 * Corruptions of WebAuthn answers, for the fuzzer: each arbitrary gives a function that breaks one part of a real
 * answer of the software authenticator, made for a live challenge. The spec-driven generators already send random
 * base64url; these keep every other part right (the challenge, the origin, the signature where untouched), so that
 * the server's parsing of CBOR, COSE keys, authenticator data and client data is what gets hit.
 */

export type Corruption<T> = { describe: string; apply: (answer: T) => unknown };

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const bytesOf = (text: string) => Buffer.from(text, 'base64url');

/** A way to break a byte string: a flipped byte, cut short, extended, emptied or replaced by random bytes. */
export const byteBreak: fc.Arbitrary<{ describe: string; apply: (original: Uint8Array) => Uint8Array }> = fc.oneof(
  fc.tuple(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([where, xor]) => ({
    describe: `flip at ${where.toFixed(3)} ^ ${xor}`,
    apply: (original: Uint8Array) => {
      const copy = Buffer.from(original);
      if (copy.length) copy[Math.floor(where * copy.length)] ^= xor;
      return copy;
    },
  })),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }).map((where) => ({
    describe: `cut at ${where.toFixed(3)}`,
    apply: (original: Uint8Array) => Buffer.from(original).subarray(0, Math.floor(where * original.length)),
  })),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => ({ describe: `+${extra.length} bytes`, apply: (original: Uint8Array) => Buffer.concat([Buffer.from(original), extra]) })),
  fc.constant({ describe: 'empty', apply: () => new Uint8Array() }),
  fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ describe: `random ${bytes.length} bytes`, apply: () => bytes })),
);

/** CBOR that is well-formed (or nearly) but not what an attestation object should be. */
const hostileCbor: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(cbor(new Map<string, Cbor>())),
  fc.constant(cbor([1, 2, 3])),
  fc.constant(cbor('none')),
  fc.constant(cbor(new Map<string, Cbor>([['fmt', 5], ['attStmt', new Map()], ['authData', 'text']]))),
  fc.constant(cbor(new Map<string, Cbor>([['fmt', 'packed'], ['attStmt', new Map()], ['authData', new Uint8Array(37)]]))),
  fc.constant(cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(37)]]))),
  fc.constant(cbor(new Map<string, Cbor>([['fmt', 'no-such-format'], ['attStmt', new Map()], ['authData', new Uint8Array(37)]]))),
  // Nesting deep enough to hurt a recursive decoder.
  fc.constantFrom(100, 5000).map((depth) => Buffer.concat([Buffer.alloc(depth, 0x81), Buffer.from([0x00])])),
  // A length prefix that promises far more than follows; an indefinite-length map never closed.
  fc.constant(Buffer.from([0x5a, 0xff, 0xff, 0xff, 0xff, 0x00])),
  fc.constant(Buffer.from([0xbf, 0x61, 0x61])),
);

/** Client data that is not the right JSON: not JSON, another type, a challenge of the wrong type, odd origins. */
const hostileClientData: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'null', '[]', '{', '"x"', '{"type":"webauthn.get"}', '{"type":"webauthn.create","challenge":5,"origin":"http://app.test"}'),
  fc.record({ type: fc.constantFrom('webauthn.get', 'webauthn.create', 'payment.get', ''), challenge: fc.string({ maxLength: 60 }), origin: fc.string({ maxLength: 200 }) }).map((value) => JSON.stringify(value)),
);

/** Replaces the client data, keeping the live challenge where the hostile JSON has a string challenge. */
const replaceClientData = (text: string, challenge: string) => b64(Buffer.from(text.replace(/"challenge":"[^"]*"/, `"challenge":"${challenge}"`)));
const challengeOf = (clientDataJSON: string) => JSON.parse(bytesOf(clientDataJSON).toString()).challenge as string;

export const registrationCorruption: fc.Arbitrary<Corruption<RegistrationJSON>> = fc.oneof(
  byteBreak.map((broken) => ({
    describe: `attestationObject ${broken.describe}`,
    apply: (answer: RegistrationJSON) => ({ ...answer, response: { ...answer.response, attestationObject: b64(broken.apply(bytesOf(answer.response.attestationObject))) } }),
  })),
  hostileCbor.map((bytes) => ({
    describe: `attestationObject ${b64(bytes).slice(0, 40)}`,
    apply: (answer: RegistrationJSON) => ({ ...answer, response: { ...answer.response, attestationObject: b64(bytes) } }),
  })),
  byteBreak.map((broken) => ({
    describe: `clientDataJSON ${broken.describe}`,
    apply: (answer: RegistrationJSON) => ({ ...answer, response: { ...answer.response, clientDataJSON: b64(broken.apply(bytesOf(answer.response.clientDataJSON))) } }),
  })),
  hostileClientData.map((text) => ({
    describe: `clientDataJSON ${text.slice(0, 60)}`,
    apply: (answer: RegistrationJSON) => ({ ...answer, response: { ...answer.response, clientDataJSON: replaceClientData(text, challengeOf(answer.response.clientDataJSON)) } }),
  })),
  byteBreak.map((broken) => ({
    describe: `id and rawId ${broken.describe}`,
    apply: (answer: RegistrationJSON) => {
      const id = b64(broken.apply(bytesOf(answer.id)));
      return { ...answer, id, rawId: id };
    },
  })),
);

export const authenticationCorruption: fc.Arbitrary<Corruption<AuthenticationJSON>> = fc.oneof(
  ...(['authenticatorData', 'signature', 'clientDataJSON', 'userHandle'] as const).map((part) =>
    byteBreak.map((broken) => ({
      describe: `${part} ${broken.describe}`,
      apply: (answer: AuthenticationJSON) => ({ ...answer, response: { ...answer.response, [part]: b64(broken.apply(bytesOf(answer.response[part]))) } }),
    })),
  ),
  hostileClientData.map((text) => ({
    describe: `clientDataJSON ${text.slice(0, 60)}`,
    apply: (answer: AuthenticationJSON) => ({ ...answer, response: { ...answer.response, clientDataJSON: replaceClientData(text, challengeOf(answer.response.clientDataJSON)) } }),
  })),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({
    describe: 'another rawId',
    apply: (answer: AuthenticationJSON) => ({ ...answer, rawId: b64(bytes) }),
  })),
);
