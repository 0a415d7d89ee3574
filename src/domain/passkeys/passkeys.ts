import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { AuthenticationResponseJSON, AuthenticatorTransport, RegistrationResponseJSON } from '@simplewebauthn/server';
import {
  IdentitySchema,
  PasskeySchema,
  UserSchema,
  WebauthnChallengeSchema,
  type Passkey,
  type User,
  type WebauthnChallenge,
  type WebauthnChallengePurpose,
} from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { ProblemError } from '../kernel/problem.js';
import type { ClientInfo, Principal } from '../kernel/actor.js';
import type { Mailbox } from '../kernel/notifications.js';
import type { Proof, Reauthentication } from '../users/reauthentication.js';
import type { components } from '../../../generated/openapi.js';
import { webhookEvents } from '../webhooks/events.js';

const webhookPasskey = (passkey: Passkey) => ({
  id: passkey.id,
  name: passkey.name,
  createdAt: passkey.createdAt.toISOString(),
  deviceType: passkey.deviceType as 'singleDevice' | 'multiDevice',
  backedUp: passkey.backedUp,
});

/**
 * @simplewebauthn/server, with the ASN.1, X.509 and COSE libraries under it, is imported at the first passkey
 * ceremony instead of at start: a server whose users never use passkeys keeps it out of its memory.
 */
let library: Promise<typeof import('@simplewebauthn/server') & typeof import('@simplewebauthn/server/helpers')> | undefined;
const webauthn = () =>
  (library ??= Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]).then(([server, helpers]) => ({ ...server, ...helpers })));

export type PasskeyView = components['schemas']['Passkey'];
type CreationOptions = components['schemas']['PublicKeyCredentialCreationOptionsJSON'];
type RequestOptions = components['schemas']['PublicKeyCredentialRequestOptionsJSON'];

export interface RelyingParty {
  /** WEBAUTHN_RP_ID */
  id: string;
  /** WEBAUTHN_RP_NAME */
  name: string;
  /** WEBAUTHN_ORIGINS */
  origins: readonly string[];
}

export interface PasskeyOptions {
  relyingParty: RelyingParty;
  appUrl: string;
}

/** A challenge lives 5 minutes (PRODUCT §5.1); the authenticator's own timeout is the same. */
export const CHALLENGE_TTL_SECONDS = 300;
/** EdDSA, ES256, and RS256 for Windows Hello. */
const ALGORITHMS = [-8, -7, -257];

/** Why a passkey sign-in was refused: the login attempt's reason. The client is told none of it. */
export type PasskeyRefusal = 'passkey-challenge' | 'unknown-passkey' | 'passkey-verification' | 'passkey-counter';

export class PasskeySignInRefused extends ProblemError {
  constructor(
    readonly reason: PasskeyRefusal,
    readonly user: User | null,
  ) {
    super('passkey-sign-in-failed', { detail: 'Start the passkey sign-in again.' });
  }
}

export function toPasskeyView(passkey: Passkey): PasskeyView {
  return {
    id: passkey.id,
    name: passkey.name,
    createdAt: passkey.createdAt.toISOString(),
    lastUsedAt: passkey.lastUsedAt?.toISOString() ?? null,
    deviceType: passkey.deviceType,
    backedUp: passkey.backedUp,
    transports: passkey.transports ? passkey.transports.split(',') : [],
  };
}

/** The WebAuthn user handle of an account: the 16 bytes of its id (no personal information). */
const userHandleOf = (userId: string) => Buffer.from(userId.replace(/-/g, ''), 'hex');

/**
 * Passkeys (WebAuthn) over @simplewebauthn/server: registering them to an account, listing, renaming, deleting,
 * and checking the authenticator's answer of a sign-in. The sign-in itself (attempts, lockout, session) is
 * `signInWithPasskey` in sign-in/, the same path as a password's.
 *
 * Every ceremony has a challenge row: random, for one purpose (and one user for a registration), 5 minutes long, and
 * deleted by the first answer, right or wrong, so that it can never be answered twice, on this instance or another.
 */
export class Passkeys {
  constructor(
    private readonly clock: Clock,
    private readonly reauthentication: Reauthentication,
    private readonly mailbox: Mailbox,
    private readonly options: PasskeyOptions,
  ) {}

  /** A step-up operation: a session alone must not add a way in that the owner does not know of. */
  async startRegistration(
    em: EntityManager,
    principal: Principal,
    proof: Proof,
    client: ClientInfo,
  ): Promise<{ challenge: WebauthnChallenge; options: CreationOptions }> {
    const user = await this.reauthentication.loadUser(em, principal);
    await this.reauthentication.confirm(em, user, principal, proof, client);
    const existing = await em.find(PasskeySchema, { userId: user.id }, { orderBy: { createdAt: 'asc' } });
    const rp = this.options.relyingParty;
    const { generateRegistrationOptions } = await webauthn();
    const options = await generateRegistrationOptions({
      rpName: rp.name,
      rpID: rp.id,
      userID: userHandleOf(user.id),
      userName: user.email,
      userDisplayName: user.name ?? user.email,
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((passkey) => ({ id: passkey.credentialId, transports: transportsOf(passkey) })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      supportedAlgorithmIDs: ALGORITHMS,
    });
    const challenge = await this.saveChallenge(em, options.challenge, 'registration', user.id);
    return { challenge, options: options as CreationOptions };
  }

  async finishRegistration(
    em: EntityManager,
    userId: string,
    input: { challengeId: string; credential: RegistrationResponseJSON; name?: string },
  ): Promise<Passkey> {
    const challenge = await this.takeChallenge(em, input.challengeId, 'registration', userId);
    if (!challenge) throw new ProblemError('passkey-challenge-invalid', { detail: 'The challenge is unknown, used or expired. Start again.' });
    const user = await em.findOneOrFail(UserSchema, { id: userId, deletedAt: null });
    const rp = this.options.relyingParty;
    const { verifyRegistrationResponse, isoBase64URL } = await webauthn();
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response: input.credential,
        expectedChallenge: challenge.challenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.id,
        requireUserVerification: true,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (error) {
      // The library's messages say which check failed (origin, RP ID hash, flags); they hold no secret.
      throw new ProblemError('passkey-registration-failed', { detail: error instanceof Error ? error.message : 'The answer does not verify.' });
    }
    if (!verified.verified || !verified.registrationInfo) {
      throw new ProblemError('passkey-registration-failed', { detail: 'The answer does not verify.' });
    }
    const info = verified.registrationInfo;
    if (await em.count(PasskeySchema, { credentialId: info.credential.id })) {
      throw new ProblemError('passkey-already-registered', { detail: 'This credential is registered already.' });
    }
    const now = this.clock.now();
    const passkey = em.create(PasskeySchema, {
      id: randomUUID(),
      userId,
      credentialId: info.credential.id,
      publicKey: isoBase64URL.fromBuffer(info.credential.publicKey),
      counter: info.credential.counter,
      transports: (input.credential.response.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)).slice(0, 8).join(','),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      name: input.name ?? `Passkey of ${now.toISOString().slice(0, 10)}`,
      createdAt: now,
      lastUsedAt: null,
    });
    this.mailbox.queue(em, now, user.email, { kind: 'security-change', change: { kind: 'passkey-added', name: passkey.name }, appUrl: this.options.appUrl });
    await webhookEvents.emit(em, now, 'passkey.added', { userId, passkey: webhookPasskey(passkey) });
    try {
      await em.flush();
    } catch (error) {
      // Two registrations of one credential at the same moment: the unique index decides.
      if (error instanceof Error && error.name === 'UniqueConstraintViolationException') {
        em.clear();
        throw new ProblemError('passkey-already-registered', { detail: 'This credential is registered already.' });
      }
      throw error;
    }
    return passkey;
  }

  async list(em: EntityManager, userId: string): Promise<PasskeyView[]> {
    const passkeys = await em.find(PasskeySchema, { userId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return passkeys.map(toPasskeyView);
  }

  async rename(em: EntityManager, userId: string, passkeyId: string, name: string): Promise<PasskeyView> {
    const passkey = await this.own(em, userId, passkeyId);
    passkey.name = name;
    await em.flush();
    return toPasskeyView(passkey);
  }

  /** Deletes one of the account's passkeys; never its last way in (no password, no identity, no other passkey). */
  async delete(em: EntityManager, userId: string, passkeyId: string): Promise<void> {
    const passkey = await this.own(em, userId, passkeyId);
    const user = await em.findOneOrFail(UserSchema, { id: userId }, { populate: ['passwordHash'] });
    const others = (await em.count(PasskeySchema, { userId, id: { $ne: passkey.id } })) + (await em.count(IdentitySchema, { userId }));
    if (!user.passwordHash && others === 0) {
      throw new ProblemError('last-sign-in-method', { detail: 'This passkey is the only way in: set a password or add another passkey first.' });
    }
    await em.transactional(async (tx) => {
      if ((await tx.nativeDelete(PasskeySchema, { id: passkey.id })) === 1) {
        await webhookEvents.emit(tx, this.clock.now(), 'passkey.removed', { userId, passkey: webhookPasskey(passkey) });
      }
    });
  }

  /** The options of a discoverable-credential sign-in: no allowCredentials, so no account is named or revealed. */
  async startSignIn(em: EntityManager): Promise<{ challenge: WebauthnChallenge; options: RequestOptions }> {
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({
      rpID: this.options.relyingParty.id,
      userVerification: 'required',
      timeout: CHALLENGE_TTL_SECONDS * 1000,
    });
    const challenge = await this.saveChallenge(em, options.challenge, 'sign-in', null);
    return { challenge, options: options as RequestOptions };
  }

  /** The live passkey a sign-in names, with its account (null for an unknown credential or a deleted account). */
  async findForSignIn(em: EntityManager, credentialId: string): Promise<{ passkey: Passkey; user: User } | null> {
    const passkey = await em.findOne(PasskeySchema, { credentialId });
    if (!passkey) return null;
    const user = await em.findOne(UserSchema, { id: passkey.userId, deletedAt: null });
    return user ? { passkey, user } : null;
  }

  /**
   * Checks the authenticator's answer of a sign-in: the challenge (spent here, whatever follows), the origin, the RP ID
   * hash, the UP and UV flags, the signature, and a counter that must go forward (unless the authenticator keeps none).
   * Refusals throw PasskeySignInRefused with the reason; a counter that went back is `passkey-counter` only once the
   * signature has verified, so that it is a real copy of the key and not any stranger's answer.
   */
  async verifySignIn(
    em: EntityManager,
    found: { passkey: Passkey; user: User },
    input: { challengeId: string; credential: AuthenticationResponseJSON },
  ): Promise<void> {
    const { passkey, user } = found;
    const challenge = await this.takeChallenge(em, input.challengeId, 'sign-in', null);
    if (!challenge) throw new PasskeySignInRefused('passkey-challenge', user);
    const handle = input.credential.response.userHandle;
    const { cose, decodeCredentialPublicKey, isoBase64URL, verifyAuthenticationResponse } = await webauthn();
    if (handle !== undefined && handle !== isoBase64URL.fromBuffer(userHandleOf(user.id))) throw new PasskeySignInRefused('passkey-verification', user);
    const publicKey = isoBase64URL.toBuffer(passkey.publicKey);
    const signature = isoBase64URL.toBuffer(input.credential.response.signature);
    if (decodeCredentialPublicKey(publicKey).get(cose.COSEKEYS.kty) === cose.COSEKTY.EC2 && !isStrictDerSignature(signature)) {
      throw new PasskeySignInRefused('passkey-verification', user);
    }
    const rp = this.options.relyingParty;
    let verified;
    try {
      verified = await verifyAuthenticationResponse({
        response: input.credential,
        expectedChallenge: challenge.challenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.id,
        requireUserVerification: true,
        // The counter is compared below, after the signature: the library would compare it before.
        credential: { id: passkey.credentialId, publicKey, counter: 0, transports: transportsOf(passkey) },
      });
    } catch {
      throw new PasskeySignInRefused('passkey-verification', user);
    }
    if (!verified.verified) throw new PasskeySignInRefused('passkey-verification', user);
    const { newCounter, credentialBackedUp, credentialDeviceType } = verified.authenticationInfo;
    if ((newCounter > 0 || passkey.counter > 0) && newCounter <= passkey.counter) throw new PasskeySignInRefused('passkey-counter', user);
    // Written with a condition on the counter read, so that two answers with the same counter cannot both pass.
    const updated = await em.nativeUpdate(
      PasskeySchema,
      { id: passkey.id, counter: passkey.counter },
      { counter: newCounter, lastUsedAt: this.clock.now(), backedUp: credentialBackedUp, deviceType: credentialDeviceType },
    );
    if (updated === 0) throw new PasskeySignInRefused('passkey-counter', user);
  }

  private async own(em: EntityManager, userId: string, passkeyId: string): Promise<Passkey> {
    const passkey = await em.findOne(PasskeySchema, { id: passkeyId, userId });
    if (!passkey) throw new ProblemError('not-found', { detail: 'There is no passkey with this id on this account.' });
    return passkey;
  }

  private async saveChallenge(em: EntityManager, value: string, purpose: WebauthnChallengePurpose, userId: string | null) {
    const now = this.clock.now();
    const challenge = em.create(WebauthnChallengeSchema, {
      id: randomUUID(),
      challenge: value,
      purpose,
      userId,
      createdAt: now,
      expiresAt: addSeconds(now, CHALLENGE_TTL_SECONDS),
    });
    await em.flush();
    return challenge;
  }

  /**
   * Spends a challenge: deletes it and gives it back when it was live, of this purpose and (for a registration) this
   * user; null otherwise. Only the request whose delete removed the row gets it, so parallel answers get it once.
   * A challenge of another user or purpose is left alone (its own ceremony may still finish).
   */
  private async takeChallenge(em: EntityManager, id: string, purpose: WebauthnChallengePurpose, userId: string | null) {
    const challenge = await em.findOne(WebauthnChallengeSchema, { id, purpose, userId });
    if (!challenge) return null;
    const deleted = await em.nativeDelete(WebauthnChallengeSchema, { id });
    em.getUnitOfWork().unsetIdentity(challenge);
    if (deleted === 0 || challenge.expiresAt <= this.clock.now()) return null;
    return challenge;
  }
}

/**
 * Whether an ECDSA signature is strict DER: SEQUENCE { INTEGER r, INTEGER s }, short lengths, nothing after it. The
 * verifier reads r and s out of looser encodings too (another outer tag, trailing bytes, which the fuzzer found), so
 * that one signature would have many accepted spellings; only the one an authenticator makes is taken.
 */
export function isStrictDerSignature(sig: Uint8Array): boolean {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] & 0x80 || sig[1] + 2 !== sig.length) return false;
  let at = 2;
  for (let part = 0; part < 2; part++) {
    const length = sig[at + 1];
    if (sig[at] !== 0x02 || length === undefined || length === 0 || length > 33 || at + 2 + length > sig.length) return false;
    // No negative integer, and no needless leading zero.
    if (sig[at + 2] & 0x80 || (length > 1 && sig[at + 2] === 0 && !(sig[at + 3] & 0x80))) return false;
    at += 2 + length;
  }
  return at === sig.length;
}

function transportsOf(passkey: Passkey): AuthenticatorTransport[] {
  return (passkey.transports ? passkey.transports.split(',') : []) as AuthenticatorTransport[];
}
