import { signInWithSecondFactor, type SignInDeps } from '../domain/sign-in/sign-in.js';
import type { AccessTokens } from '../domain/tokens/access-tokens.js';
import type { Config } from '../config/load.js';
import { clientInfo } from '../http/context.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';
import { tokenResponder } from './token-response.js';

/** verifyMfa finishes a sign-in (SignInDeps); the rest is the Mfa object. */
export interface MfaDeps extends SignInDeps {
  accessTokens: AccessTokens;
  config: Config;
  mailer: MailKick;
}

/**
 * Audit actions, rate limits and the sign-in metric of these operations: verifyMfa finishes a sign-in, the step-up
 * ones check a password or a code (see OperationPolicy).
 */
export const mfaPolicies: OperationPolicies<
  'verifyMfa' | 'getMfaStatus' | 'enrollTotp' | 'confirmTotp' | 'disableTotp' | 'enableEmailOtp' | 'disableEmailOtp' | 'regenerateRecoveryCodes'
> = {
  verifyMfa: { audit: 'user.signed-in', rateLimited: true, signIn: true },
  enrollTotp: { audit: 'mfa.totp-enrolled', rateLimited: true },
  confirmTotp: { audit: 'mfa.totp-enabled' },
  disableTotp: { audit: 'mfa.totp-disabled', rateLimited: true },
  enableEmailOtp: { audit: 'mfa.email-enabled', rateLimited: true },
  disableEmailOtp: { audit: 'mfa.email-disabled', rateLimited: true },
  regenerateRecoveryCodes: { audit: 'mfa.recovery-codes-regenerated', rateLimited: true },
};

export const mfaOperations: OperationGroup<
  'verifyMfa' | 'getMfaStatus' | 'enrollTotp' | 'confirmTotp' | 'disableTotp' | 'enableEmailOtp' | 'disableEmailOtp' | 'regenerateRecoveryCodes',
  MfaDeps
> = (services) => {
  const { mfa, mailer } = services;
  const tokenResponse = tokenResponder(services.accessTokens, services.config);
  return {
    // The second step of signing in (tag Multi-factor): a code for the challenge that login or finishOAuth started.
    async verifyMfa({ body, ctx }) {
      const completed = await signInWithSecondFactor(ctx.state.em, services, { ...body, client: clientInfo(ctx) }).finally(() => mailer.kick());
      if (!completed.ok) {
        ctx.state.audit = { action: 'user.mfa-failed', targetUserId: completed.user?.id ?? null };
        throw completed.problem;
      }
      ctx.state.audit = { details: { method: completed.method } };
      return tokenResponse(ctx, completed.issued, completed.challenge.refreshTokenDelivery);
    },

    async getMfaStatus({ ctx }) {
      return { status: 200, body: await mfa.status(ctx.state.em, ctx.state.principal!.userId) };
    },

    async enrollTotp({ body, ctx }) {
      ctx.set('Cache-Control', 'no-store');
      return { status: 200, body: await mfa.enrollTotp(ctx.state.em, ctx.state.principal!, body ?? {}, clientInfo(ctx)) };
    },

    async confirmTotp({ body, ctx }) {
      ctx.set('Cache-Control', 'no-store');
      const recoveryCodes = await mfa.confirmTotp(ctx.state.em, ctx.state.principal!, body.code);
      mailer.kick();
      return { status: 200, body: { recoveryCodes } };
    },

    async disableTotp({ body, ctx }) {
      await mfa.disableTotp(ctx.state.em, ctx.state.principal!, body, clientInfo(ctx));
      return { status: 204 };
    },

    async enableEmailOtp({ body, ctx }) {
      const status = await mfa.enableEmailOtp(ctx.state.em, ctx.state.principal!, body ?? {}, clientInfo(ctx));
      mailer.kick();
      return { status: 200, body: status };
    },

    async disableEmailOtp({ body, ctx }) {
      await mfa.disableEmailOtp(ctx.state.em, ctx.state.principal!, body, clientInfo(ctx));
      return { status: 204 };
    },

    async regenerateRecoveryCodes({ body, ctx }) {
      ctx.set('Cache-Control', 'no-store');
      return { status: 200, body: { recoveryCodes: await mfa.regenerateRecoveryCodes(ctx.state.em, ctx.state.principal!, body, clientInfo(ctx)) } };
    },
  };
};
