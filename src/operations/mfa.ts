import { clientInfo } from '../http/context.js';
import type { OperationGroup, OperationPolicies } from './group.js';

/** Audit actions and rate limits of these operations: the step-up ones check a password or a code (see OperationPolicy). */
export const mfaPolicies: OperationPolicies<
  'getMfaStatus' | 'enrollTotp' | 'confirmTotp' | 'disableTotp' | 'enableEmailOtp' | 'disableEmailOtp' | 'regenerateRecoveryCodes'
> = {
  enrollTotp: { audit: 'mfa.totp-enrolled', rateLimited: true },
  confirmTotp: { audit: 'mfa.totp-enabled' },
  disableTotp: { audit: 'mfa.totp-disabled', rateLimited: true },
  enableEmailOtp: { audit: 'mfa.email-enabled', rateLimited: true },
  disableEmailOtp: { audit: 'mfa.email-disabled', rateLimited: true },
  regenerateRecoveryCodes: { audit: 'mfa.recovery-codes-regenerated', rateLimited: true },
};

export const mfaOperations: OperationGroup<
  'getMfaStatus' | 'enrollTotp' | 'confirmTotp' | 'disableTotp' | 'enableEmailOtp' | 'disableEmailOtp' | 'regenerateRecoveryCodes'
> = ({ mfa, mailer }) => ({
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
});
