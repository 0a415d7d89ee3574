import { clientInfo } from '../http/context.js';
import type { OperationGroup } from './group.js';

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
