import { randomBytes } from 'node:crypto';
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  createLocalJWKSet,
  type JWK,
  type CryptoKey,
  type JWTVerifyGetKey,
} from 'jose';
import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { SigningKeySchema, type SigningKey } from '../../db/entities.js';
import { addSeconds, type Clock } from '../kernel/clock.js';

export const SIGNING_ALGORITHM = 'EdDSA';
/** Algorithms a configured key may use. Generated keys are always Ed25519 (EdDSA). */
export const ACCEPTED_ALGORITHMS = ['EdDSA', 'ES256'];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

export interface ActiveKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface SigningKeyOptions {
  /** Seconds a new key is published before it signs: longer than verifiers cache the JWKS. */
  publishSeconds: number;
  /** The access-token lifetime: a retired key stays published until the last token it signed has expired. */
  accessTokenTtlSeconds: number;
  /** An operator-supplied private JWK (JSON); when set, it is the only key and rotation is refused. */
  configuredKey?: string;
}

export class SigningKeyConfigured extends Error {}

/**
 * The key pairs that sign access tokens, kept in the database so that every instance signs with the same keys and a
 * restart does not sign everyone out. The first start creates one. Rotation publishes the new key first and lets it
 * sign only after `publishSeconds`; the old key then stays published until its last token has expired. Each
 * instance reloads the keys every minute (and at once on an unknown `kid`), so it sees a new key long before the
 * key signs anything.
 */
export class SigningKeys {
  private published: SigningKey[] = [];
  private active?: ActiveKey;
  private verifier?: JWTVerifyGetKey;
  private lastReload = 0;
  private reloading?: Promise<void>;
  private configured?: { active: ActiveKey; publicJwk: Record<string, unknown> };

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: SigningKeyOptions,
  ) {}

  /** Loads the keys, creating the first one when there is none (or importing the configured one). */
  async init(): Promise<void> {
    if (this.options.configuredKey) {
      this.configured = await importConfiguredKey(this.options.configuredKey);
      this.verifier = createLocalJWKSet({ keys: [this.configured.publicJwk as JWK] });
      this.active = this.configured.active;
      return;
    }
    await this.reload();
    if (this.published.length === 0) {
      await this.insertKey(this.clock.now());
      await this.reload();
    }
  }

  get isConfigured(): boolean {
    return Boolean(this.configured);
  }

  /**
   * Starts a rotation: a new key is published now and signs from `activatesAt`; every older key retires once the
   * tokens it can still sign until then have expired.
   */
  async rotate(): Promise<{ kid: string; activatesAt: Date; retiring: string[] }> {
    if (this.configured) throw new SigningKeyConfigured('the signing key comes from SIGNING_KEY; replace it there');
    const now = this.clock.now();
    const activatesAt = addSeconds(now, this.options.publishSeconds);
    const retiresAt = addSeconds(activatesAt, this.options.accessTokenTtlSeconds);
    const em = this.orm.em.fork();
    const older = await em.find(SigningKeySchema, { retiresAt: null });
    for (const key of older) key.retiresAt = retiresAt;
    const kid = await this.insertKey(now, activatesAt, em);
    await this.reload();
    this.logger.info({ kid, activatesAt, retiring: older.map((key) => key.kid) }, 'signing key rotated');
    return { kid, activatesAt, retiring: older.map((key) => key.kid) };
  }

  private async insertKey(now: Date, activatesAt = now, em = this.orm.em.fork()): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: 'Ed25519', extractable: true });
    const kid = `${now.toISOString().slice(0, 19).replace(/[:]/g, '-')}Z-${randomBytes(3).toString('hex')}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM };
    em.create(SigningKeySchema, { kid, alg: SIGNING_ALGORITHM, publicJwk, privateJwk, createdAt: now, activatesAt, retiresAt: null });
    await em.flush();
    return kid;
  }

  async reload(): Promise<void> {
    if (this.configured) return;
    const em = this.orm.em.fork();
    const now = this.clock.now();
    const keys = await em.find(
      SigningKeySchema,
      { $or: [{ retiresAt: null }, { retiresAt: { $gt: now } }] },
      { orderBy: { createdAt: 'desc' }, populate: ['privateJwk'] },
    );
    this.published = keys;
    // The newest key whose time to sign has come; before any has, the newest there is.
    const signer = keys.find((key) => (key.activatesAt ?? key.createdAt) <= now) ?? keys.at(-1);
    if (signer && signer.kid !== this.active?.kid) {
      this.active = { kid: signer.kid, alg: signer.alg, privateKey: (await importJWK(signer.privateJwk as JWK, signer.alg)) as CryptoKey };
    }
    this.verifier = createLocalJWKSet({ keys: this.publicJwks() as JWK[] });
    this.lastReload = Date.now();
  }

  /**
   * Reloads when the last load is older than a minute; cheap enough to call before every signature. Requests that
   * find the keys stale at the same moment share one reload instead of each querying the database.
   */
  private async fresh(): Promise<void> {
    if (this.configured || Date.now() - this.lastReload <= 60_000) return;
    await this.sharedReload();
  }

  private sharedReload(): Promise<void> {
    this.reloading ??= this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  async signingKey(): Promise<ActiveKey> {
    await this.fresh();
    if (!this.active) throw new Error('signing keys are not loaded');
    return this.active;
  }

  publicJwks(): Record<string, unknown>[] {
    if (this.configured) return [this.configured.publicJwk];
    return this.published.map((key) => key.publicJwk);
  }

  /** The JWKS as served: reloaded when stale, so a new key shows up here before it signs. */
  async currentJwks(): Promise<Record<string, unknown>[]> {
    await this.fresh();
    return this.publicJwks();
  }

  /** The key-lookup function for jose's jwtVerify. An unknown `kid` reloads once (another instance may have rotated). */
  verificationKey(): JWTVerifyGetKey {
    return async (header, token) => {
      try {
        return await this.verifier!(header, token);
      } catch (error) {
        const known = this.publicJwks().some((key) => key.kid === header.kid);
        if (this.configured || known || Date.now() - this.lastReload < 5_000) throw error;
        await this.sharedReload();
        return this.verifier!(header, token);
      }
    };
  }
}

/** An operator's private JWK: Ed25519 (`kty: OKP`, `crv: Ed25519`, alg EdDSA) or P-256 (`kty: EC`, alg ES256). */
async function importConfiguredKey(json: string) {
  let jwk: JWK & { kid?: string; alg?: string };
  try {
    jwk = JSON.parse(json);
  } catch {
    throw new Error('SIGNING_KEY: not valid JSON (expected a private JWK)');
  }
  const alg = jwk.alg ?? (jwk.kty === 'OKP' ? 'EdDSA' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined);
  if (!alg || !ACCEPTED_ALGORITHMS.includes(alg)) throw new Error('SIGNING_KEY: must be an Ed25519 (EdDSA) or P-256 (ES256) key');
  if (!jwk.d) throw new Error('SIGNING_KEY: the JWK has no private part ("d")');
  if (!jwk.kid) throw new Error('SIGNING_KEY: the JWK needs a "kid"');
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  const publicJwk: Record<string, unknown> = Object.fromEntries(Object.entries(jwk).filter(([member]) => !PRIVATE_MEMBERS.includes(member)));
  return { active: { kid: jwk.kid, alg, privateKey }, publicJwk: { ...publicJwk, alg, use: 'sig' } };
}
