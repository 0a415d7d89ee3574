import { signInWithPasskey, type PasskeySignInDeps } from '../domain/sign-in/sign-in.js';
import { toPasskeyView, type Passkeys } from '../domain/passkeys/passkeys.js';
import type { AccessTokens } from '../domain/tokens/access-tokens.js';
import type { Config } from '../config/load.js';
import { clientInfo } from '../http/context.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';
import { tokenResponder } from './token-response.js';

/** finishPasskeySignIn is a full sign-in (PasskeySignInDeps: the guard, attempts and sessions of every sign-in). */
export interface PasskeyDeps extends PasskeySignInDeps {
  passkeys: Passkeys;
  accessTokens: AccessTokens;
  config: Config;
  mailer: MailKick;
}

type Ids =
  | 'startPasskeyRegistration'
  | 'finishPasskeyRegistration'
  | 'listMyPasskeys'
  | 'renamePasskey'
  | 'deletePasskey'
  | 'startPasskeySignIn'
  | 'finishPasskeySignIn';

/**
 * Audit actions, rate limits and the sign-in metric of these operations (see OperationPolicy): finishPasskeySignIn is
 * a sign-in like login; startPasskeySignIn writes a challenge for anyone who asks; startPasskeyRegistration checks a
 * step-up proof.
 */
export const passkeyPolicies: OperationPolicies<Ids> = {
  startPasskeyRegistration: { audit: 'passkey.registration-started', rateLimited: true },
  finishPasskeyRegistration: { audit: 'passkey.registered' },
  renamePasskey: { audit: 'passkey.renamed' },
  deletePasskey: { audit: 'passkey.deleted' },
  startPasskeySignIn: { rateLimited: true },
  finishPasskeySignIn: { audit: 'user.signed-in', rateLimited: true, signIn: true },
};

export const passkeyOperations: OperationGroup<Ids, PasskeyDeps> = (services) => {
  const { passkeys, mailer } = services;
  const tokenResponse = tokenResponder(services.accessTokens, services.config);

  return {
    async startPasskeyRegistration({ body, ctx }) {
      const started = await passkeys.startRegistration(ctx.state.em, ctx.state.principal!, body ?? {}, clientInfo(ctx));
      ctx.set('Cache-Control', 'no-store');
      return {
        status: 200,
        body: { challengeId: started.challenge.id, options: started.options, expiresAt: started.challenge.expiresAt.toISOString() },
      };
    },

    async finishPasskeyRegistration({ body, ctx }) {
      const passkey = await passkeys
        .finishRegistration(ctx.state.em, ctx.state.principal!.userId, body)
        .finally(() => mailer.kick());
      ctx.state.audit = { details: { passkeyId: passkey.id, deviceType: passkey.deviceType } };
      return { status: 201, body: toPasskeyView(passkey) };
    },

    async listMyPasskeys({ ctx }) {
      return { status: 200, body: { items: await passkeys.list(ctx.state.em, ctx.state.principal!.userId) } };
    },

    async renamePasskey({ path, body, ctx }) {
      ctx.state.audit = { details: { passkeyId: path.passkeyId } };
      return { status: 200, body: await passkeys.rename(ctx.state.em, ctx.state.principal!.userId, path.passkeyId, body.name) };
    },

    async deletePasskey({ path, ctx }) {
      ctx.state.audit = { details: { passkeyId: path.passkeyId } };
      await passkeys.delete(ctx.state.em, ctx.state.principal!.userId, path.passkeyId);
      return { status: 204 };
    },

    async startPasskeySignIn({ ctx }) {
      const started = await passkeys.startSignIn(ctx.state.em);
      ctx.set('Cache-Control', 'no-store');
      return {
        status: 200,
        body: { challengeId: started.challenge.id, options: started.options, expiresAt: started.challenge.expiresAt.toISOString() },
      };
    },

    async finishPasskeySignIn({ body, ctx }) {
      const outcome = await signInWithPasskey(ctx.state.em, services, {
        challengeId: body.challengeId,
        credential: body.credential,
        client: clientInfo(ctx),
      }).finally(() => mailer.kick()); // a lockout or new-device mail may be queued, failure or not
      if ('refused' in outcome) {
        // The audit event of a refused sign-in names the account the credential belongs to, when there is one.
        ctx.state.audit = { targetUserId: outcome.user?.id ?? null, details: { method: 'passkey' } };
        throw outcome.refused;
      }
      ctx.state.audit = { details: { method: 'passkey' } };
      return tokenResponse(ctx, outcome.issued, body.refreshTokenDelivery ?? 'cookie');
    },
  };
};
