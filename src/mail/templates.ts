import type { LinkedIdentity, SecurityChange } from '../domain/kernel/notifications.js';

/** The mails Pulse Auth sends. Each is plain text plus a minimal HTML version. */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function layout(paragraphs: string[], link?: { href: string; label: string }): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  const button = link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>` : '';
  return `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">${body}\n${button}</body></html>`;
}

const minutes = (seconds: number) => Math.max(1, Math.round(seconds / 60));

/**
 * To an address nobody has proven yet: nothing in it comes from the person who registered (not the display name),
 * or anyone could mail their own words to any address from our server.
 */
export function verificationMail(input: { link: string; ttlSeconds: number }): MailContent {
  const lines = [
    'Hello,',
    `Confirm your email address to finish creating your account. The link works once, for ${minutes(input.ttlSeconds)} minutes.`,
  ];
  const after = 'If you did not sign up, ignore this mail: no account is created without the link.';
  return {
    subject: 'Confirm your email address',
    text: `${lines.join('\n\n')}\n\n${input.link}\n\n${after}\n`,
    html: layout([...lines, after], { href: input.link, label: 'Confirm my email address' }),
  };
}

export function alreadyRegisteredMail(input: { appUrl: string }): MailContent {
  const lines = [
    'Hello,',
    'Someone tried to create an account with this email address, but you already have one.',
    'If it was you, sign in instead; if you forgot your password, reset it from the sign-in page.',
    'If it was not you, you can ignore this mail: nothing has changed.',
  ];
  return {
    subject: 'You already have an account',
    text: `${lines.join('\n\n')}\n\n${input.appUrl}\n`,
    html: layout(lines, { href: input.appUrl, label: 'Go to the sign-in page' }),
  };
}

const identityName = (identity: LinkedIdentity) => (identity.email ? `${identity.provider} (${identity.email})` : identity.provider);

export function passwordResetMail(input: { link: string; ttlSeconds: number; identities: LinkedIdentity[] }): MailContent {
  const lines = [
    'Hello,',
    `Someone asked to reset the password of your account. The link below works once, for ${minutes(input.ttlSeconds)} minutes, and signs you out everywhere.`,
  ];
  // Someone who took the account over may have linked a provider of their own: a reset alone would not lock them out.
  if (input.identities.length > 0) {
    lines.push(
      `These sign-in providers are linked to your account as well: ${input.identities.map(identityName).join(', ')}. If you did not link one of them, choose to remove them on the reset page.`,
    );
  }
  const after = 'If it was not you, ignore this mail: your password stays as it is.';
  return {
    subject: 'Reset your password',
    text: `${lines.join('\n\n')}\n\n${input.link}\n\n${after}\n`,
    html: layout([...lines, after], { href: input.link, label: 'Choose a new password' }),
  };
}

const PASSWORD_CHANGES = {
  reset: 'The password of your account was reset, and every device was signed out.',
  change: 'The password of your account was changed. Every other device was signed out.',
  set: 'A password was set for your account: it can now be signed in to with your email and that password. Every other device was signed out.',
};

export function passwordChangedMail(input: { how: keyof typeof PASSWORD_CHANGES; appUrl: string; unlinked?: LinkedIdentity[] }): MailContent {
  const lines = [
    'Hello,',
    PASSWORD_CHANGES[input.how],
    ...(input.unlinked?.length ? [`These sign-in providers were unlinked from your account: ${input.unlinked.map(identityName).join(', ')}.`] : []),
    'If it was not you, reset your password now and check your account.',
  ];
  return {
    subject: 'Your password was changed',
    text: `${lines.join('\n\n')}\n\n${input.appUrl}\n`,
    html: layout(lines, { href: input.appUrl, label: 'Go to your account' }),
  };
}

export function accountDeletedMail(input: { purgeOn: Date | null }): MailContent {
  const lines = [
    'Hello,',
    input.purgeOn
      ? `Your account was deleted and every device signed out. It will be removed for good on ${input.purgeOn.toISOString().slice(0, 10)}; until then, the administrators can restore it.`
      : 'Your account was deleted for good, and every device signed out.',
    'If it was not you, contact the administrators at once.',
  ];
  return { subject: 'Your account was deleted', text: `${lines.join('\n\n')}\n`, html: layout(lines) };
}

export function accountLockedMail(input: { minutes: number; scope: 'client' | 'everyone'; appUrl: string }): MailContent {
  const lines = [
    'Hello,',
    input.scope === 'everyone'
      ? `There were many failed attempts to sign in to your account, from several places, so sign-in is locked for ${input.minutes} minutes.`
      : `There were several failed attempts to sign in to your account from one network, so sign-in from there is locked for ${input.minutes} minutes. Sign-in from elsewhere still works.`,
    'If it was you, wait and try again, or reset your password. If it was not, someone may be guessing your password: choose a strong one and turn on two-step sign-in.',
  ];
  return { subject: 'Sign-in to your account was locked', text: `${lines.join('\n\n')}\n\n${input.appUrl}\n`, html: layout(lines, { href: input.appUrl, label: 'Go to your account' }) };
}

export function newDeviceMail(input: { device: string; ip: string | null; at: Date; appUrl: string }): MailContent {
  const lines = [
    'Hello,',
    `Your account was just signed in to from a device we have not seen before: ${input.device}, from ${input.ip ?? 'an unknown address'}, at ${input.at.toISOString().replace('T', ' ').slice(0, 16)} UTC.`,
    'If it was you, there is nothing to do. If not, change your password and sign the device out from your account.',
  ];
  return { subject: 'New sign-in to your account', text: `${lines.join('\n\n')}\n\n${input.appUrl}\n`, html: layout(lines, { href: input.appUrl, label: 'Review your sessions' }) };
}

export function signInCodeMail(input: { code: string; ttlSeconds: number }): MailContent {
  const lines = [
    'Hello,',
    `Your sign-in code is ${input.code}. It works once, for ${minutes(input.ttlSeconds)} minutes.`,
    'If you are not signing in, someone has your password: change it now.',
  ];
  // The code stays out of the subject: subjects are kept in the outbox after delivery, bodies are not.
  return { subject: 'Your sign-in code', text: `${lines.join('\n\n')}\n`, html: layout(lines) };
}

/** Passwordless sign-in: the link (for this device) and the code (to type on another one). */
export function emailSignInMail(input: { link: string; code: string; ttlSeconds: number }): MailContent {
  const lines = [
    'Hello,',
    `Someone asked to sign in to your account with this email address. Open the link below and press "Sign in", or enter the code ${input.code}. Both work once, for ${minutes(input.ttlSeconds)} minutes.`,
  ];
  const after = 'If you are not signing in, ignore this mail: nobody can sign in without the link or the code.';
  // As with the sign-in code, neither the code nor the link goes in the subject.
  return {
    subject: 'Sign in to your account',
    text: `${lines.join('\n\n')}\n\n${input.link}\n\n${after}\n`,
    html: layout([...lines, after], { href: input.link, label: 'Sign in' }),
  };
}

const SECURITY_CHANGES: { [K in SecurityChange['kind']]: { subject: string; line: (change: Extract<SecurityChange, { kind: K }>) => string } } = {
  'totp-enabled': {
    subject: 'Two-step sign-in was turned on',
    line: () => 'An authenticator app was added to your account: sign-ins now ask for its code.',
  },
  'email-otp-enabled': {
    subject: 'Two-step sign-in was turned on',
    line: () => 'Sign-in codes by email were turned on for your account: sign-ins now ask for a code we mail you.',
  },
  'identity-linked': {
    subject: 'A sign-in provider was linked to your account',
    line: (change) => `Your account can now be signed in to through ${identityName(change.identity)}.`,
  },
  'passkey-added': {
    subject: 'A passkey was added to your account',
    line: (change) => `A passkey named "${change.name}" was added to your account: it can now sign in with it, without a password.`,
  },
  'mfa-reset-by-admin': {
    subject: 'Two-step sign-in was turned off',
    line: () => 'An administrator turned off two-step sign-in for your account (authenticator app, recovery codes and email codes).',
  },
};

export function securityChangeMail(change: SecurityChange, input: { appUrl: string }): MailContent {
  const { subject, line } = SECURITY_CHANGES[change.kind] as { subject: string; line: (change: SecurityChange) => string };
  const lines = ['Hello,', line(change), 'If it was not you, reset your password now and review your account: someone else may be signed in to it.'];
  return { subject, text: `${lines.join('\n\n')}\n\n${input.appUrl}\n`, html: layout(lines, { href: input.appUrl, label: 'Review your account' }) };
}

/**
 * An invitation to an organization. It goes to an address that its owner has not proven to us, so it names the
 * organization and the inviter's display name (both chosen by signed-in people with an admin role there, not by
 * anyone at all) and says plainly that nothing happens unless the link is used.
 */
export function invitationMail(input: { link: string; organizationName: string; role: string; inviterName: string | null; ttlSeconds: number }): MailContent {
  const days = Math.max(1, Math.round(input.ttlSeconds / 86_400));
  const who = input.inviterName ? `${input.inviterName} invited you` : 'You are invited';
  const lines = [
    'Hello,',
    `${who} to join ${input.organizationName} as ${input.role === 'admin' ? 'an admin' : `a ${input.role}`}.`,
    `Open the link to accept: sign in (or create an account with this email address first), then press Accept. The link works once, for ${days} day${days === 1 ? '' : 's'}.`,
  ];
  const after = 'If you do not want to join, ignore this mail: nothing happens without the link.';
  return {
    subject: `Join ${input.organizationName}`,
    text: `${lines.join('\n\n')}\n\n${input.link}\n\n${after}\n`,
    html: layout([...lines, after], { href: input.link, label: 'Accept the invitation' }),
  };
}
