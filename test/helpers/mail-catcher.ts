import { createMailCatcher, type CaughtMail } from './mail-catcher.cjs';

export type { CaughtMail };

/**
 * A real SMTP server on 127.0.0.1 that keeps what it receives (mail-catcher.cjs, shared with the contract hooks).
 * It can refuse mail for a while (`refuse = true`) to play an SMTP outage.
 */
export class MailCatcher {
  private core = createMailCatcher();

  get mails(): CaughtMail[] {
    return this.core.mails;
  }

  get refuse(): boolean {
    return this.core.refuse;
  }

  set refuse(value: boolean) {
    this.core.refuse = value;
  }

  start(): Promise<number> {
    return this.core.listen({ host: '127.0.0.1', port: 0 });
  }

  stop(): Promise<void> {
    return this.core.close();
  }

  /** Waits for the next mail to `to` that matches, newer than the `after`-th mail. */
  next(to: string, options: { subject?: RegExp; timeoutMs?: number; after?: number } = {}): Promise<CaughtMail> {
    return this.core.waitForMail((mail) => mail.to === to && (!options.subject || options.subject.test(mail.subject)), {
      after: options.after ?? 0,
      timeoutMs: options.timeoutMs ?? 10_000,
      what: `to ${to}${options.subject ? ` matching ${options.subject}` : ''}`,
    });
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
