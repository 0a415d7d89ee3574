import type { OperationGroup } from './group.js';

export const mfaOperations: OperationGroup<
  'getMfaStatus' | 'enrollTotp' | 'confirmTotp' | 'disableTotp' | 'enableEmailOtp' | 'disableEmailOtp' | 'regenerateRecoveryCodes'
> = ({ mfa }) => ({
  async getMfaStatus({ ctx }) {
    return { status: 200, body: await mfa.status(ctx.state.em, ctx.state.principal!.userId) };
  },

  async enrollTotp({ ctx }) {
    ctx.set('Cache-Control', 'no-store');
    return { status: 200, body: await mfa.enrollTotp(ctx.state.em, ctx.state.principal!) };
  },

  async confirmTotp({ body, ctx }) {
    ctx.set('Cache-Control', 'no-store');
    return { status: 200, body: { recoveryCodes: await mfa.confirmTotp(ctx.state.em, ctx.state.principal!, body.code) } };
  },

  async disableTotp({ body, ctx }) {
    await mfa.disableTotp(ctx.state.em, ctx.state.principal!, body);
    return { status: 204 };
  },

  async enableEmailOtp({ ctx }) {
    return { status: 200, body: await mfa.enableEmailOtp(ctx.state.em, ctx.state.principal!) };
  },

  async disableEmailOtp({ body, ctx }) {
    await mfa.disableEmailOtp(ctx.state.em, ctx.state.principal!, body);
    return { status: 204 };
  },

  async regenerateRecoveryCodes({ body, ctx }) {
    ctx.set('Cache-Control', 'no-store');
    return { status: 200, body: { recoveryCodes: await mfa.regenerateRecoveryCodes(ctx.state.em, ctx.state.principal!, body) } };
  },
});
