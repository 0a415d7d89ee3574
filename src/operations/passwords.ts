import { clientInfo } from '../http/context.js';
import { ACCEPTED } from './registration.js';
import type { Passwords } from '../domain/passwords/passwords.js';
import type { SignInGuard } from '../domain/protection/sign-in-guard.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';

export interface PasswordDeps {
  passwords: Passwords;
  guard: SignInGuard;
  mailer: MailKick;
}

/** Audit actions and rate limits of these operations (see OperationPolicy). */
export const passwordPolicies: OperationPolicies<'forgotPassword' | 'resetPassword' | 'changePassword'> = {
  forgotPassword: { rateLimited: true },
  resetPassword: { audit: 'password.reset', rateLimited: true },
  changePassword: { audit: 'password.changed', rateLimited: true },
};

export const passwordOperations: OperationGroup<'forgotPassword' | 'resetPassword' | 'changePassword', PasswordDeps> = ({ passwords, guard, mailer }) => ({
  async forgotPassword({ body }) {
    // The work happens after the answer, so that known and unknown emails answer alike (see Passwords.requestReset).
    passwords.requestReset(body.email, () => mailer.kick());
    return { status: 202, body: ACCEPTED };
  },

  async resetPassword({ body, ctx }) {
    const { userId, email } = await passwords.resetWithToken(ctx.state.em, body.token, body.password, { unlinkIdentities: body.unlinkIdentities });
    // The link proved control of the mailbox: a lockout of this email ends (for everyone, and for this client).
    await guard.accountRecovered(email, clientInfo(ctx).ip);
    ctx.state.audit = { targetUserId: userId, actorUserId: userId };
    mailer.kick();
    return { status: 204 };
  },

  async changePassword({ body, ctx }) {
    await passwords.change(ctx.state.em, ctx.state.principal!, body, clientInfo(ctx));
    mailer.kick();
    return { status: 204 };
  },
});
