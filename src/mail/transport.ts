import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
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

/** The links in a mail's plain text, as written (decoded: no quoted-printable `=3D`, no soft line breaks). */
export function linksIn(text: string): string[] {
  return [...new Set(text.match(/https?:\/\/[^\s<>"']+/g) ?? [])];
}

/**
 * Real SMTP when SMTP_URL is set; otherwise the development outbox. For each mail it writes, in MAIL_DEV_DIR, an
 * `.eml` file (for a mail client) and beside it a `.txt` file with the headers and the plain text as they are, so
 * that a link copied from it works. Its log line names the files and, with `logLinks` (every NODE_ENV but
 * production), the links themselves: in development the outbox is the mailbox, and the log is where one looks.
 */
export function createMailTransport(options: { smtpUrl?: string; from: string; devDir: string; logger: Logger; logLinks: boolean }): MailTransport {
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
      const base = join(folder, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}`);
      await writeFile(`${base}.eml`, info.message as Buffer);
      await writeFile(`${base}.txt`, `From: ${options.from}\nTo: ${mail.to}\nSubject: ${mail.subject}\n\n${mail.text}`);
      const links = linksIn(mail.text);
      options.logger.info(
        { to: mail.to, subject: mail.subject, file: `${base}.eml`, textFile: `${base}.txt`, ...(options.logLinks && links.length ? { links } : {}) },
        'development outbox: mail written',
      );
    },
    close: () => writer.close(),
  };
}

export interface OutboxMail {
  file: string;
  to: string;
  subject: string;
  links: string[];
}

/** The newest `limit` mails of the development outbox folder, newest first (read from their `.txt` files). */
export async function readDevelopmentOutbox(devDir: string, limit: number): Promise<OutboxMail[]> {
  const folder = resolve(devDir);
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const newest = names.filter((name) => name.endsWith('.txt')).sort().reverse().slice(0, limit);
  return Promise.all(
    newest.map(async (name) => {
      const file = join(folder, name);
      const content = await readFile(file, 'utf8');
      const [head = '', ...body] = content.split('\n\n');
      const header = (field: string) => new RegExp(`^${field}: (.*)$`, 'm').exec(head)?.[1] ?? '';
      return { file, to: header('To'), subject: header('Subject'), links: linksIn(body.join('\n\n')) };
    }),
  );
}
