import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface CaughtMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server on 127.0.0.1 that keeps what it receives. It can refuse mail for a while (`refuse = true`)
 * to play an SMTP outage.
 */
export class MailCatcher {
  readonly mails: CaughtMail[] = [];
  refuse = false;
  private waiters: Array<() => void> = [];
  private server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo: (_address, _session, callback) => {
      if (this.refuse) return callback(Object.assign(new Error('Mailbox unavailable (test outage)'), { responseCode: 450 }));
      callback();
    },
    onData: (stream, _session, callback) => {
      simpleParser(stream)
        .then((parsed: ParsedMail) => {
          const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
          this.mails.push({
            to: to?.value[0]?.address ?? '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
          });
          this.waiters.splice(0).forEach((wake) => wake());
          callback();
        })
        .catch(callback);
    },
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Waits for the next mail to `to` that matches, newer than the `after`-th mail. */
  async next(to: string, options: { subject?: RegExp; timeoutMs?: number; after?: number } = {}): Promise<CaughtMail> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const found = this.mails
        .slice(options.after ?? 0)
        .find((mail) => mail.to === to && (!options.subject || options.subject.test(mail.subject)));
      if (found) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no mail to ${to}${options.subject ? ` matching ${options.subject}` : ''} arrived`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  count(to: string): number {
    return this.mails.filter((mail) => mail.to === to).length;
  }
}

/** The `token` parameter of the first link in a mail that carries one. */
export function tokenFrom(mail: CaughtMail): string {
  const match = /[?&]token=([A-Za-z0-9_%-]+)/.exec(mail.text);
  if (!match) throw new Error(`no token link in mail "${mail.subject}"`);
  return decodeURIComponent(match[1]);
}
