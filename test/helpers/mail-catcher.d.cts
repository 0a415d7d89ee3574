/** Types of mail-catcher.cjs (the contract hooks load it as CommonJS; TypeScript tests through mail-catcher.ts). */
export interface CaughtMail {
  /** The first address of the To header, as written. */
  to: string;
  /** Every envelope and To-header recipient, lowercased. */
  recipients: string[];
  subject: string;
  text: string;
  html: string;
  receivedAt: number;
}

export interface MailCatcherCore {
  host: string | null;
  port: number | null;
  readonly mails: CaughtMail[];
  refuse: boolean;
  listen(options?: { host?: string; port?: number }): Promise<number>;
  waitForMail(fits: (mail: CaughtMail) => boolean, options?: { after?: number; timeoutMs?: number; what?: string }): Promise<CaughtMail>;
  waitFor(to: string, options?: { match?: (mail: CaughtMail) => boolean; timeoutMs?: number }): Promise<CaughtMail>;
  close(): Promise<void>;
}

export function createMailCatcher(): MailCatcherCore;
export function startMailCatcher(options?: { host?: string; port?: number }): Promise<MailCatcherCore>;
export function verificationTokenOf(mail: Pick<CaughtMail, 'text' | 'html'>): string | null;
