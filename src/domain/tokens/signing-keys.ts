import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, createLocalJWKSet, type JWK, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import type { MikroORM } from '@mikro-orm/core';
import { SigningKeySchema, type SigningKey } from '../../db/entities.js';
import type { Clock } from '../clock.js';

export const SIGNING_ALGORITHM = 'EdDSA';

export interface ActiveKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

/**
 * The key pairs that sign access tokens, kept in the database so that every instance signs with the same key and
 * a restart does not sign everyone out. The first start creates one. The newest published key signs; every key
 * that has not retired verifies and is published in the JWKS.
 */
export class SigningKeys {
  private published: SigningKey[] = [];
  private active?: ActiveKey;
  private verifier?: JWTVerifyGetKey;
  private lastReload = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
  ) {}

  /** Loads the keys, creating the first one when there is none. */
  async init(): Promise<void> {
    await this.reload();
    if (this.published.length === 0) {
      await this.create();
      await this.reload();
    }
  }

  async create(): Promise<string> {
    const now = this.clock.now();
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: 'Ed25519', extractable: true });
    const kid = `${now.toISOString().slice(0, 19).replace(/[:]/g, '-')}Z-${randomBytes(3).toString('hex')}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM };
    const em = this.orm.em.fork();
    em.create(SigningKeySchema, { kid, alg: SIGNING_ALGORITHM, publicJwk, privateJwk, createdAt: now, retiresAt: null });
    await em.flush();
    return kid;
  }

  async reload(): Promise<void> {
    const em = this.orm.em.fork();
    const now = this.clock.now();
    const keys = await em.find(
      SigningKeySchema,
      { $or: [{ retiresAt: null }, { retiresAt: { $gt: now } }] },
      { orderBy: { createdAt: 'desc' }, populate: ['privateJwk'] },
    );
    this.published = keys;
    const newest = keys.find((key) => key.createdAt <= now) ?? keys[0];
    if (newest) {
      this.active = {
        kid: newest.kid,
        alg: newest.alg,
        privateKey: (await importJWK(newest.privateJwk as JWK, newest.alg)) as CryptoKey,
      };
    }
    this.verifier = createLocalJWKSet({ keys: this.publicJwks() as JWK[] });
    this.lastReload = Date.now();
  }

  signingKey(): ActiveKey {
    if (!this.active) throw new Error('signing keys are not loaded');
    return this.active;
  }

  publicJwks(): Record<string, unknown>[] {
    return this.published.map((key) => key.publicJwk);
  }

  /** The key-lookup function for jose's jwtVerify. An unknown `kid` reloads once (another instance may have rotated). */
  verificationKey(): JWTVerifyGetKey {
    return async (header, token) => {
      try {
        return await this.verifier!(header, token);
      } catch (error) {
        const known = this.published.some((key) => key.kid === header.kid);
        if (known || Date.now() - this.lastReload < 5_000) throw error;
        await this.reload();
        return this.verifier!(header, token);
      }
    };
  }
}
