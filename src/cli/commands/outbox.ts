import { UsageError } from '../context.js';
import type { Command } from '../command.js';

/** Prints the links of the newest mails in the development outbox (MAIL_DEV_DIR), newest first. */
export const outboxCommand: Command = {
  name: 'outbox',
  synopsis: 'outbox [--count <n>]',
  summary: 'print the links of the newest mails in the development outbox',
  description: [
    'With no SMTP_URL, every mail goes to the development outbox: an .eml and a .txt file each in MAIL_DEV_DIR',
    '(default ./data/mail). This prints the newest ones (5, or --count), newest first: when, to whom, the subject and',
    'every link in it, decoded, ready to open or copy (verification and password-reset links hold their token).',
  ].join('\n'),
  options: { count: { type: 'string', short: 'n' } },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const { readDevelopmentOutbox } = await import('../../mail/transport.js');
    const count = context.values.count === undefined ? 5 : Number(context.values.count);
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new UsageError('--count takes a whole number from 1 to 1000', 'Usage: pulse-auth outbox [--count <n>]');
    const config = context.config();
    if (config.SMTP_URL) context.out('(SMTP_URL is set: new mail goes to the SMTP server, not to this outbox)');
    const mails = await readDevelopmentOutbox(config.MAIL_DEV_DIR, count);
    if (mails.length === 0) context.out(`no mail in ${config.MAIL_DEV_DIR}`);
    for (const mail of mails) {
      context.out(`${mail.to}  ${mail.subject}  (${mail.file})`);
      for (const link of mail.links) context.out(`  ${link}`);
      if (mail.links.length === 0) context.out('  (no link)');
    }
  },
};
