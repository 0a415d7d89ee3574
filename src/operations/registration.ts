import { toUserView } from '../domain/users/views.js';
import type { OperationGroup } from './group.js';

export const ACCEPTED = { message: 'If the address can receive mail, a message is on its way.' };

export const registrationOperations: OperationGroup<'register' | 'verifyEmail' | 'resendVerification'> = ({
  registration,
  mailer,
}) => ({
  async register({ body, ctx }) {
    await registration.register(ctx.state.em, body);
    mailer.kick();
    return { status: 202, body: ACCEPTED };
  },

  async verifyEmail({ body, ctx }) {
    const user = await registration.verify(ctx.state.em, body.token);
    return { status: 200, body: toUserView(user) };
  },

  async resendVerification({ body, ctx }) {
    await registration.resend(ctx.state.em, body.email);
    mailer.kick();
    return { status: 202, body: ACCEPTED };
  },
});
