import { userData, webhookEvents } from '../webhooks/events.js';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { IdentityLinkTicketSchema, IdentitySchema, OAuthStateSchema, PendingRegistrationSchema, SessionSchema, UserSchema, type User } from '../../db/entities.js';
import type { Mailbox } from '../kernel/notifications.js';
import { addSeconds, type Clock } from '../kernel/clock.js';
import { constantTimeEqual, hashToken, randomSecret } from '../tokens/secrets.js';
import { displayNameFrom, normaliseEmail } from '../users/views.js';
import { isEmailAddress } from '../users/email-format.js';
import { createUser } from '../users/new-user.js';
import { ProviderUnavailable, type Providers } from './providers.js';
import type { ProviderConfig } from '../../config/load.js';

const STATE_TTL_SECONDS = 600;
const LINK_TICKET_TTL_SECONDS = 300;

/** Deleted, locked or unverified accounts do not sign in, whatever the way in. */
const canSignIn = (user: User) => !user.deletedAt && !user.lockedAt && user.emailVerified;

/** Why a social sign-in failed: the `error` of the redirect to the app (listed in the spec's introduction). */
export type SocialSignInError =
  | 'access-denied'
  | 'invalid-state'
  | 'provider-unavailable'
  | 'provider-error'
  | 'email-not-verified'
  | 'email-unsupported'
  | 'identity-in-use'
  | 'sign-in-required'
  | 'link-expired'
  | 'account-disabled';

export class SocialSignInFailed extends Error {
  constructor(
    readonly code: SocialSignInError,
    options?: { cause?: unknown },
  ) {
    super(code, options);
  }
}

export interface Started {
  authorizationUrl: string;
  /** Goes to the browser in the `pulse_auth_oauth` cookie; finishing needs it back. */
  browserSecret: string;
}

export interface Finished {
  user: User;
  provider: ProviderConfig;
  linked: boolean;
}

/**
 * Sign-in, sign-up and linking through OpenID Connect providers: authorization code with PKCE, `state` and
 * `nonce`; the state is single-use, stored by hash, and tied to the starting browser by a cookie.
 *
 * Linking rules against account pre-hijacking: an identity joins an existing account only when the provider says
 * the email is verified (local accounts are verified by construction); a pending registration with that email
 * never captures it (its link simply stops working once the account exists). The owner is mailed whenever an
 * identity joins an account.
 *
 * Linking to the signed-in account needs a link ticket (`createLinkTicket`), which the caller hands out only after
 * a step-up proof: a stolen session, refresh token or access token alone cannot add an attacker's identity, which
 * would otherwise outlive a password reset.
 */
export class SocialSignIn {
  constructor(
    private readonly providers: Providers,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly mailbox: Mailbox,
    private readonly options: { adminEmails: ReadonlySet<string>; publicUrl: string; appUrl: string },
  ) {}

  /** A single-use permission for this session's account to link an identity of `provider` (5 minutes). */
  async createLinkTicket(em: EntityManager, input: { userId: string; sessionId: string; provider: ProviderConfig }) {
    const ticket = randomSecret();
    const now = this.clock.now();
    const expiresAt = addSeconds(now, LINK_TICKET_TTL_SECONDS);
    em.create(IdentityLinkTicketSchema, {
      id: randomUUID(),
      ticketHash: hashToken(ticket),
      userId: input.userId,
      sessionId: input.sessionId,
      provider: input.provider.name,
      createdAt: now,
      expiresAt,
      usedAt: null,
    });
    await em.flush();
    const query = new URLSearchParams({ intent: 'link', linkTicket: ticket });
    return { authorizeUrl: `${this.options.publicUrl}/v1/auth/oauth/${input.provider.name}/authorize?${query}`, expiresAt };
  }

  /** Spends a link ticket (a conditional update: it works once); whose account and session it was for. */
  private async takeLinkTicket(em: EntityManager, provider: ProviderConfig, ticket: string) {
    const now = this.clock.now();
    const ticketHash = hashToken(ticket);
    const spent = await em.nativeUpdate(
      IdentityLinkTicketSchema,
      { ticketHash, provider: provider.name, usedAt: null, expiresAt: { $gt: now } },
      { usedAt: now },
    );
    if (spent !== 1) throw new SocialSignInFailed('link-expired');
    const row = await em.findOneOrFail(IdentityLinkTicketSchema, { ticketHash });
    if (!(await this.sessionIsLive(em, row.sessionId, row.userId))) throw new SocialSignInFailed('link-expired');
    return row;
  }

  private async sessionIsLive(em: EntityManager, sessionId: string, userId: string) {
    const now = this.clock.now();
    return (await em.count(SessionSchema, { id: sessionId, userId, revokedAt: null, expiresAt: { $gt: now } })) === 1;
  }

  async start(em: EntityManager, provider: ProviderConfig, intent: { linkTicket: string | null }): Promise<Started> {
    // The ticket first: a link request that is not allowed ends here, whether or not the provider answers.
    const link = intent.linkTicket === null ? null : await this.takeLinkTicket(em, provider, intent.linkTicket);
    const config = await this.providers.configuration(provider).catch((error) => {
      throw new SocialSignInFailed('provider-unavailable', { cause: error });
    });
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const browserSecret = randomSecret();
    const now = this.clock.now();
    em.create(OAuthStateSchema, {
      id: randomUUID(),
      stateHash: hashToken(state),
      browserHash: hashToken(browserSecret),
      provider: provider.name,
      codeVerifier,
      nonce,
      intent: link ? 'link' : 'login',
      linkUserId: link?.userId ?? null,
      linkSessionId: link?.sessionId ?? null,
      createdAt: now,
      expiresAt: addSeconds(now, STATE_TTL_SECONDS),
    });
    await em.flush();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.providers.callbackUrl(provider.name),
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { authorizationUrl: url.href, browserSecret };
  }

  /** Completes the provider's redirect back to us; `query` is the callback's query string as received. */
  async finish(em: EntityManager, provider: ProviderConfig, query: URLSearchParams, browserSecret: string | undefined): Promise<Finished> {
    const state = query.get('state');
    // The state is spent first, whatever happens next: a replay of this callback finds nothing.
    const pending = state ? await this.takeState(em, state) : null;
    if (query.get('error')) throw new SocialSignInFailed(query.get('error') === 'access_denied' ? 'access-denied' : 'provider-error');
    if (
      !pending ||
      pending.provider !== provider.name ||
      !browserSecret ||
      !constantTimeEqual(hashToken(browserSecret), pending.browserHash)
    ) {
      throw new SocialSignInFailed('invalid-state');
    }

    let claims: oidc.IDToken;
    try {
      const config = await this.providers.configuration(provider);
      const callback = new URL(this.providers.callbackUrl(provider.name));
      callback.search = query.toString();
      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state!,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims()!;
    } catch (error) {
      this.logger.warn({ provider: provider.name, err: error }, 'oauth: code exchange failed');
      throw new SocialSignInFailed(error instanceof ProviderUnavailable ? 'provider-unavailable' : 'provider-error', { cause: error });
    }

    // The session that asked for the link may have ended meanwhile (the owner signed out everywhere): no link then.
    if (pending.linkSessionId && !(await this.sessionIsLive(em, pending.linkSessionId, pending.linkUserId!))) {
      throw new SocialSignInFailed('link-expired');
    }
    try {
      return await em.transactional((tx) => this.resolveUser(tx, provider, claims, pending.linkUserId));
    } catch (error) {
      // Two sign-ins of one new person at once: the second finds the identity the first made.
      if (error instanceof UniqueConstraintViolationException) {
        return em.fork().transactional((tx) => this.resolveUser(tx, provider, claims, pending.linkUserId));
      }
      throw error;
    }
  }

  private async takeState(em: EntityManager, state: string) {
    const row = await em.findOne(OAuthStateSchema, { stateHash: hashToken(state) });
    if (!row) return null;
    const taken = await em.nativeDelete(OAuthStateSchema, { id: row.id, expiresAt: { $gt: this.clock.now() } });
    return taken === 1 ? row : null;
  }

  private async resolveUser(em: EntityManager, provider: ProviderConfig, claims: oidc.IDToken, linkUserId: string | null): Promise<Finished> {
    const now = this.clock.now();
    // Only an address sign-up would accept: a Unicode one can lower-case onto another account's (U+212A KELVIN SIGN
    // becomes "k"). Anything else counts as no email: refused where the email is needed, never folded.
    const claimed = typeof claims.email === 'string' ? claims.email : null;
    const email = claimed !== null && isEmailAddress(claimed) ? normaliseEmail(claimed) : null;
    const emailVerified = claims.email_verified === true;
    const existing = await em.findOne(IdentitySchema, { provider: provider.name, subject: claims.sub });

    if (existing) {
      if (linkUserId && existing.userId !== linkUserId) throw new SocialSignInFailed('identity-in-use');
      const user = await em.findOne(UserSchema, { id: existing.userId });
      if (!user || !canSignIn(user)) throw new SocialSignInFailed('account-disabled');
      existing.lastUsedAt = now;
      existing.email = email;
      return { user, provider, linked: false };
    }

    if (linkUserId) {
      const user = await em.findOne(UserSchema, { id: linkUserId, deletedAt: null });
      if (!user) throw new SocialSignInFailed('sign-in-required');
      if (await em.count(IdentitySchema, { userId: user.id, provider: provider.name })) throw new SocialSignInFailed('identity-in-use');
      await this.addIdentity(em, user, provider, claims.sub, email, now);
      return { user, provider, linked: true };
    }

    if (claimed !== null && !email) throw new SocialSignInFailed('email-unsupported');
    if (!email || !emailVerified) throw new SocialSignInFailed('email-not-verified');
    const account = await em.findOne(UserSchema, { email });
    if (account && !canSignIn(account)) throw new SocialSignInFailed('account-disabled');
    if (account) {
      if (await em.count(IdentitySchema, { userId: account.id, provider: provider.name })) throw new SocialSignInFailed('identity-in-use');
      await this.addIdentity(em, account, provider, claims.sub, email, now);
      return { user: account, provider, linked: true };
    }

    const user = createUser(em, {
      email,
      name: displayNameFrom(claims.name),
      passwordHash: null,
      role: this.options.adminEmails.has(email) ? 'admin' : 'user',
      now,
    });
    // Sign-ups still waiting for their link lose the race: the address now has an account.
    await em.nativeDelete(PendingRegistrationSchema, { email });
    await webhookEvents.emit(em, now, 'user.created', userData(user));
    await this.addIdentity(em, user, provider, claims.sub, email, now, { newAccount: true });
    return { user, provider, linked: false };
  }

  /** Adds the identity; to an existing account, it also mails the owner (a new way into their account). */
  private async addIdentity(
    em: EntityManager,
    user: Pick<User, 'id' | 'email'>,
    provider: ProviderConfig,
    subject: string,
    email: string | null,
    now: Date,
    options: { newAccount?: boolean } = {},
  ) {
    em.create(IdentitySchema, { id: randomUUID(), userId: user.id, provider: provider.name, subject, email, createdAt: now, lastUsedAt: now });
    await webhookEvents.emit(em, now, 'identity.linked', { userId: user.id, identity: { provider: provider.name, email } });
    if (!options.newAccount) {
      this.mailbox.queue(em, now, user.email, { kind: 'security-change', change: { kind: 'identity-linked', identity: { provider: provider.name, email } }, appUrl: this.options.appUrl });
    }
  }
}
