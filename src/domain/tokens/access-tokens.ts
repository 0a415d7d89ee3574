import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Clock } from '../kernel/clock.js';
import { ACCEPTED_ALGORITHMS, type SigningKeys } from './signing-keys.js';
import type { OrganizationRole, UserRole } from '../../db/entities.js';
import { BoundedMap } from '../cache/bounded-map.js';

/** RFC 9068 marks access tokens with this `typ`, so an ID token or any other JWT of ours cannot pass as one. */
const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AccessTokenClaims {
  userId: string;
  sessionId: string;
  role: UserRole;
  expiresAt: Date;
  /** From the `org_id` and `org_role` claims of an organization-scoped token. */
  organization?: { id: string; role: OrganizationRole };
}

const ORGANIZATION_ROLES: readonly string[] = ['owner', 'admin', 'member'];

export class InvalidAccessToken extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'The access token has expired.' : 'The access token is not valid.');
  }
}

/**
 * Tokens that passed verification, until their `exp`: checking an EdDSA signature costs more than everything else a
 * cached authenticated request does. The key is the whole token string, so only a token byte-for-byte identical to
 * one that verified can hit; a tampered one misses and is verified (and refused) in full.
 */
const VERIFIED_TOKENS_KEPT = 20_000;

export class AccessTokens {
  private readonly verified = new BoundedMap<string, AccessTokenClaims>(VERIFIED_TOKENS_KEPT);

  constructor(
    private readonly keys: SigningKeys,
    private readonly clock: Clock,
    private readonly options: { issuer: string; audience: string; ttlSeconds: number },
  ) {}

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  async issue(subject: { userId: string; sessionId: string; role: UserRole; organization?: { id: string; role: OrganizationRole } | null }): Promise<string> {
    const key = await this.keys.signingKey();
    const now = Math.floor(this.clock.now().getTime() / 1000);
    const organization = subject.organization ? { org_id: subject.organization.id, org_role: subject.organization.role } : {};
    return new SignJWT({ sid: subject.sessionId, role: subject.role, ...organization })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + this.options.ttlSeconds)
      .sign(key.privateKey);
  }

  /** Checks signature, algorithm, type, issuer, audience and expiry; the session check is the caller's. */
  async verify(token: string): Promise<AccessTokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      // jose's rule for exp, without its clock tolerance (none is configured): valid while now < exp.
      if (this.clock.now().getTime() < known.expiresAt.getTime()) return known;
      this.verified.delete(token);
      throw new InvalidAccessToken('expired');
    }
    const claims = await this.verifyInFull(token);
    this.verified.set(token, Object.freeze(claims));
    return claims;
  }

  private async verifyInFull(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.keys.verificationKey(), {
        algorithms: ACCEPTED_ALGORITHMS,
        typ: ACCESS_TOKEN_TYPE,
        issuer: this.options.issuer,
        audience: this.options.audience,
        currentDate: this.clock.now(),
        requiredClaims: ['sub', 'sid', 'exp', 'iat', 'jti'],
      });
      if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string') throw new InvalidAccessToken('invalid');
      const role = payload.role === 'admin' ? 'admin' : 'user';
      const claims: AccessTokenClaims = { userId: payload.sub, sessionId: payload.sid, role, expiresAt: new Date(payload.exp! * 1000) };
      if (payload.org_id !== undefined || payload.org_role !== undefined) {
        if (typeof payload.org_id !== 'string' || typeof payload.org_role !== 'string' || !ORGANIZATION_ROLES.includes(payload.org_role)) throw new InvalidAccessToken('invalid');
        claims.organization = { id: payload.org_id, role: payload.org_role as OrganizationRole };
      }
      return claims;
    } catch (error) {
      if (error instanceof InvalidAccessToken) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new InvalidAccessToken('expired');
      throw new InvalidAccessToken('invalid');
    }
  }
}
