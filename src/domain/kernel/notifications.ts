import type { EntityManager } from '@mikro-orm/core';

export interface LinkedIdentity {
  provider: string;
  email: string | null;
}

/** A lasting change to how the account can be signed in to, made by someone holding a session or an admin. */
export type SecurityChange =
  | { kind: 'totp-enabled' }
  | { kind: 'email-otp-enabled' }
  | { kind: 'identity-linked'; identity: LinkedIdentity }
  | { kind: 'passkey-added'; name: string }
  | { kind: 'mfa-reset-by-admin' };

/** What the domain tells a person by mail: the kind and its facts. src/mail turns each into a mail. */
export type MailMessage =
  | { kind: 'verification'; link: string; ttlSeconds: number }
  | { kind: 'already-registered'; appUrl: string }
  | { kind: 'password-reset'; link: string; ttlSeconds: number; identities: LinkedIdentity[] }
  | { kind: 'password-changed'; how: 'reset' | 'change' | 'set'; appUrl: string; unlinked?: LinkedIdentity[] }
  | { kind: 'account-deleted'; purgeOn: Date | null }
  | { kind: 'account-locked'; minutes: number; scope: 'client' | 'everyone'; appUrl: string }
  | { kind: 'new-device'; device: string; ip: string | null; at: Date; appUrl: string }
  | { kind: 'sign-in-code'; code: string; ttlSeconds: number }
  | { kind: 'email-sign-in'; link: string; code: string; ttlSeconds: number }
  | { kind: 'security-change'; change: SecurityChange; appUrl: string }
  | { kind: 'invitation'; link: string; organizationName: string; role: string; inviterName: string | null; ttlSeconds: number };

/** The port through which the domain sends mail (src/mail/mailbox.ts implements it). */
export interface Mailbox {
  /**
   * Queues `message` for `to` in the caller's unit of work: it is committed with the change that causes it, or not
   * at all, and delivered after the commit.
   */
  queue(em: EntityManager, now: Date, to: string, message: MailMessage): void;
}
