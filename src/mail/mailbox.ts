import type { MailMessage, Mailbox } from '../domain/kernel/notifications.js';
import { enqueueMail } from './outbox.js';
import {
  accountDeletedMail,
  accountLockedMail,
  alreadyRegisteredMail,
  newDeviceMail,
  passwordChangedMail,
  passwordResetMail,
  securityChangeMail,
  signInCodeMail,
  emailSignInMail,
  invitationMail,
  verificationMail,
  type MailContent,
} from './templates.js';

export function renderMail(message: MailMessage): MailContent {
  switch (message.kind) {
    case 'verification':
      return verificationMail(message);
    case 'already-registered':
      return alreadyRegisteredMail(message);
    case 'password-reset':
      return passwordResetMail(message);
    case 'password-changed':
      return passwordChangedMail(message);
    case 'account-deleted':
      return accountDeletedMail(message);
    case 'account-locked':
      return accountLockedMail(message);
    case 'new-device':
      return newDeviceMail(message);
    case 'sign-in-code':
      return signInCodeMail(message);
    case 'email-sign-in':
      return emailSignInMail(message);
    case 'security-change':
      return securityChangeMail(message.change, { appUrl: message.appUrl });
    case 'invitation':
      return invitationMail(message);
  }
}

/** The domain's Mailbox: renders the message now and writes it to the outbox in the caller's unit of work. */
export const outboxMailbox: Mailbox = {
  queue: (em, now, to, message) => enqueueMail(em, now, to, renderMail(message)),
};
