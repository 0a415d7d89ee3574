import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { OAuthStateSchema } from '../../src/db/entities.js';
import { startServerProcess, temporaryDirectory, type ServerProcess } from '../multi-instance/processes.js';
import { TestServer } from '../helpers/server.js';
import { TestOidcProvider } from '../helpers/oidc-provider.js';

/** A raw connection to the server, with what it has answered so far and when it closed. */
function rawConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    const closed = new Promise<number>((resolveClosed) => socket.once('close', () => resolveClosed(Date.now())));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => received, closed }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte every `everyMs` until the connection closes. */
function trickle(socket: Socket, text: string, everyMs: number): () => void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text[at++]);
  }, everyMs);
  return () => clearInterval(timer);
}

/** Waits for `closed`, or `ms` at most; the time it took, or undefined when the connection is still open. */
async function closedWithin(closed: Promise<number>, startedAt: number, ms: number): Promise<number | undefined> {
  const at = await Promise.race([closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);
  return at === undefined ? undefined : at - startedAt;
}

describe('slow clients (issue 14.12)', function () {
  this.timeout(60_000);

  describe('the HTTP server of src/server.ts, with HTTP_HEADERS_TIMEOUT_SECONDS=1 and HTTP_REQUEST_TIMEOUT_SECONDS=2', () => {
    let server: ServerProcess;
    before(async () => {
      const dir = temporaryDirectory();
      server = await startServerProcess({
        DATABASE_URL: `file:${join(dir, 'db.sqlite')}`,
        MAIL_DEV_DIR: join(dir, 'mail'),
        HTTP_HEADERS_TIMEOUT_SECONDS: '1',
        HTTP_REQUEST_TIMEOUT_SECONDS: '2',
      });
    });
    after(() => server?.stop('SIGKILL', 1_000));

    it('Slow clients: a body trickled a byte at a time is cut after HTTP_REQUEST_TIMEOUT_SECONDS (408), not after Node\'s 300 s', async () => {
      const { socket, received, closed } = await rawConnection(server.port);
      const startedAt = Date.now();
      socket.write('POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n');
      const stop = trickle(socket, `{"email":"slow@example.com","password":"${'x'.repeat(150)}"}`, 200);
      const took = await closedWithin(closed, startedAt, 8_000);
      stop();
      socket.destroy();
      expect(took, 'the connection was still open after 8 s').to.be.a('number');
      // The request timeout (2 s), checked every second.
      expect(took).to.be.within(1_500, 4_500);
      expect(received()).to.match(/^HTTP\/1\.1 408 /);
    });

    it('Slow clients: headers trickled a byte at a time (slowloris) are cut after HTTP_HEADERS_TIMEOUT_SECONDS', async () => {
      const { socket, closed } = await rawConnection(server.port);
      const startedAt = Date.now();
      socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const stop = trickle(socket, `X-Padding: ${'x'.repeat(200)}\r\n\r\n`, 200);
      const took = await closedWithin(closed, startedAt, 8_000);
      stop();
      socket.destroy();
      expect(took, 'the connection was still open after 8 s').to.be.a('number');
      expect(took).to.be.below(3_500);
    });

    it('keeps an idle keep-alive connection open past both timeouts: its next request is answered (keepAliveTimeout stays 65 s)', async () => {
      const { socket, received, closed } = await rawConnection(server.port);
      const request = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      socket.write(request);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(received()).to.match(/^HTTP\/1\.1 200 /);
      // Longer than both timeouts and a check of the server's in between.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      socket.write(request);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(received().match(/HTTP\/1\.1 200 /g), received()).to.have.length(2);
      socket.destroy();
      await closed;
    });
  });

  describe('startOAuth, with RATE_LIMIT_PER_MINUTE=5', () => {
    let idp: TestOidcProvider;
    let app: TestServer;
    before(async () => {
      idp = await TestOidcProvider.listen();
      app = await TestServer.start({ OIDC_PROVIDERS: 'acme', ...idp.envFor('acme'), RATE_LIMIT_PER_MINUTE: '5' }, { publicUrlIsServer: true });
      idp.configure(`${app.baseUrl}/v1/auth/oauth/acme/callback`);
    });
    after(async () => {
      await app?.stop();
      await idp?.stop();
    });

    it('OAuth state flood: unauthenticated starts from one IP are limited per minute (429 with Retry-After), and a limited start writes no oauth_states row', async () => {
      const states = () => app.services.orm.em.fork().count(OAuthStateSchema, {});
      const before = await states();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i += 1) {
        const reply = await app.request('GET', '/v1/auth/oauth/acme/authorize');
        statuses.push(reply.status);
        if (reply.status === 429) {
          expect(reply.body.code).to.equal('rate-limited');
          expect(Number(reply.headers.get('retry-after'))).to.be.within(1, 60);
          expect(reply.headers.get('location')).to.equal(null);
        }
      }
      expect(statuses).to.deep.equal([...Array(5).fill(302), ...Array(7).fill(429)]);
      expect((await states()) - before).to.equal(5);
    });
  });
});
