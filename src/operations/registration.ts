import type { MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { toUserView } from '../domain/users/views.js';
import type { Registration } from '../domain/registration/registration.js';
import type { MailKick, OperationGroup, OperationPolicies } from './group.js';
import { afterResponse } from '../http/after-response.js';

export interface RegistrationDeps {
  registration: Registration;
  mailer: MailKick;
  /** For the work done after the answer, in a unit of work of its own. */
  orm: Pick<MikroORM, 'em'>;
  logger: Logger;
}

/** Audit actions and rate limits of these operations (read by the middleware; see OperationPolicy). */
export const registrationPolicies: OperationPolicies<'register' | 'verifyEmail' | 'resendVerification'> = {
  register: { rateLimited: true },
  verifyEmail: { audit: 'user.registered', rateLimited: true },
  resendVerification: { rateLimited: true },
};

export const ACCEPTED = { message: 'If the address can receive mail, a message is on its way.' };

export const registrationOperations: OperationGroup<'register' | 'verifyEmail' | 'resendVerification', RegistrationDeps> = ({
  registration,
  mailer,
  orm,
  logger,
}) => ({
  async register({ body, ctx }) {
    await registration.register(ctx.state.em, body);
    mailer.kick();
    return { status: 202, body: ACCEPTED };
  },

  async verifyEmail({ body, ctx }) {
    const user = await registration.verify(ctx.state.em, body.token, body.password);
    return { status: 200, body: toUserView(user) };
  },

  async resendVerification({ body, ctx }) {
    // After the answer, as forgotPassword: a live registration (a new link, a mail) must not make it slower.
    afterResponse(ctx, () => {
      registration
        .resend(orm.em.fork(), body.email)
        .then(() => mailer.kick())
        .catch((error) => logger.error({ err: error }, 'verification resend failed'));
    });
    return { status: 202, body: ACCEPTED };
  },
});
