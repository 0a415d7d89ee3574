import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';

export interface OutgoingMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string | null;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'development-outbox';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/** Real SMTP when SMTP_URL is set; otherwise the development outbox: a log line and an `.eml` file per mail. */
export function createMailTransport(options: { smtpUrl?: string; from: string; devDir: string; logger: Logger }): MailTransport {
  if (options.smtpUrl) {
    const transporter = nodemailer.createTransport(options.smtpUrl);
    return {
      kind: 'smtp',
      async send(mail) {
        await transporter.sendMail({ from: options.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? undefined });
      },
      close: () => transporter.close(),
    };
  }

  const folder = resolve(options.devDir);
  const writer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'development-outbox',
    async send(mail) {
      const info = await writer.sendMail({ from: options.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html ?? undefined });
      await mkdir(folder, { recursive: true });
      const file = join(folder, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(file, info.message as Buffer);
      // The body carries single-use links: it goes to the file only, never to the log.
      options.logger.info({ to: mail.to, subject: mail.subject, file }, 'development outbox: mail written');
    },
    close: () => writer.close(),
  };
}
