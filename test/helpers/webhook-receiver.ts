import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  path: string;
  id: string;
  timestamp: number;
  signatures: string[];
  body: string;
  event: { id: string; type: string; timestamp: string; data: any };
}

/**
 * A webhook receiver on 127.0.0.1: records every request, answers what `respond` says (200 by default), and checks
 * every signature with the `standardwebhooks` Webhook class against the secrets given for its path. A delivery
 * that does not verify is recorded in `unverified` (and answered 400, so the sender retries and the test sees it).
 */
export class WebhookReceiver {
  readonly received: ReceivedEvent[] = [];
  readonly unverified: string[] = [];
  readonly secrets = new Map<string, string[]>();
  respond: (path: string, event: ReceivedEvent) => number = () => 200;
  private server?: Server;
  port = 0;

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req)
        .then((status) => res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`))
        .catch(() => res.writeHead(500).end());
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
    this.server = undefined;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  on(path: string): ReceivedEvent[] {
    return this.received.filter((event) => event.path === path);
  }

  /** Waits until `predicate` holds over what was received (polling), or fails after `timeoutMs`. */
  async waitFor(predicate: (received: ReceivedEvent[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > until) throw new Error(`webhook receiver: condition not met in ${timeoutMs} ms (${this.received.length} received)`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private async handle(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    const received: ReceivedEvent = {
      path,
      id: headers['webhook-id'],
      timestamp: Number(headers['webhook-timestamp']),
      signatures: headers['webhook-signature'].split(' ').filter(Boolean),
      body,
      event: JSON.parse(body),
    };
    const secrets = this.secrets.get(path) ?? [];
    if (!secrets.some((secret) => verifies(secret, headers, body))) {
      this.unverified.push(`${path} ${headers['webhook-id']}`);
      return 400;
    }
    const status = this.respond(path, received);
    if (status >= 200 && status < 300) this.received.push(received);
    return status;
  }
}

/**
 * Whether `secret` signed the delivery. Webhook#verify also refuses a timestamp more than 5 minutes from the real
 * time; a test that moved the server's fake clock a day on checks the same signature by signing the same content
 * with the Webhook class and looking for it among the signatures sent.
 */
export function verifies(secret: string, headers: Record<string, string>, body: string): boolean {
  const webhook = new Webhook(secret);
  const timestamp = Number(headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1000 - timestamp) < 240) {
    try {
      webhook.verify(body, headers);
      return true;
    } catch {
      return false;
    }
  }
  const expected = webhook.sign(headers['webhook-id'], new Date(timestamp * 1000), body);
  return headers['webhook-signature'].split(' ').includes(expected);
}
