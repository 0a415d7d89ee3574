import { expect } from 'chai';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { startServerProcess, temporaryDirectory, type ServerProcess } from '../multi-instance/processes.js';

/** How one request ended, seen from the client. */
type Ending =
  | { kind: 'response'; status: number; body: string; complete: boolean; at: number; connection?: string }
  | { kind: 'refused'; at: number }
  | { kind: 'broken'; error: string; at: number };
type Outcome = Ending & { email: string };

/**
 * POST /v1/auth/login over node:http, classified precisely: a whole response (every byte of the declared length),
 * a refusal at connect (ECONNREFUSED), or anything else (a reset, a hang-up, a truncated body).
 */
function login(port: number, agent: Agent | false, email: string): Promise<Outcome> {
  const payload = JSON.stringify({ email, password: 'not the password of anyone' });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ending: Ending) => {
      if (!settled) resolve({ email, ...ending });
      settled = true;
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/auth/login',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('aborted', () => settle({ kind: 'broken', error: `response aborted after ${body.length} bytes`, at: Date.now() }));
        response.on('error', (error) => settle({ kind: 'broken', error: `response: ${error.message}`, at: Date.now() }));
        response.on('end', () =>
          settle({
            kind: 'response',
            status: response.statusCode ?? 0,
            body,
            complete: response.complete && Buffer.byteLength(body) === Number(response.headers['content-length']),
            connection: response.headers.connection,
            at: Date.now(),
          }),
        );
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle(error.code === 'ECONNREFUSED' ? { kind: 'refused', at: Date.now() } : { kind: 'broken', error: `${error.code ?? ''} ${error.message}`, at: Date.now() }),
    );
    req.end(payload);
  });
}

describe('graceful shutdown of the server process', function () {
  this.timeout(90_000);
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.stop('SIGKILL', 1_000);
    server = undefined;
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal}: stops accepting, answers every request in flight in full, and exits with 0`, async () => {
      const dir = temporaryDirectory();
      server = await startServerProcess({
        DATABASE_URL: `file:${join(dir, 'db.sqlite')}`,
        MAIL_DEV_DIR: join(dir, 'mail'),
        // bcrypt at cost 10 takes ~0.1 s, on one thread: forty logins are in flight for a few seconds.
        BCRYPT_COST: '10',
        PASSWORD_HASH_THREADS: '1',
        RATE_LIMIT_PER_MINUTE: '100000',
        RATE_LIMIT_ACCOUNT_PER_HOUR: '100000',
        // Every login then pays for its bcrypt compare (no early 429 from the IP block).
        LOCKOUT_IP_THRESHOLD: '100000',
      });
      const { port } = server;
      // Keep-alive, as browsers and HTTP client libraries do: an idle connection must not hold the exit up.
      const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
      try {
        const requests = Array.from({ length: 40 }, (_, i) => login(port, agent, `nobody-${i}@example.com`));
        // Wait until the server is demonstrably working through them: the first answer is in.
        await Promise.race(requests);
        const signalledAt = Date.now();
        server.child.kill(signal);

        // Soon after the signal, new connections are refused while the earlier requests are still being answered. A
        // probe that still got in must be answered in full, like any other request.
        const probing: Promise<Outcome>[] = [];
        let refusedAt: number | undefined;
        // (Half a second apart: a connection made at the very moment the listening socket closes is reset by the
        // kernel, whatever the server does; the close comes within milliseconds of the signal.)
        while (refusedAt === undefined && Date.now() - signalledAt < 5_000) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          probing.push(
            login(port, false, `late-${probing.length}@example.com`).then((outcome) => {
              if (outcome.kind === 'refused') refusedAt ??= outcome.at;
              return outcome;
            }),
          );
        }

        const outcomes = await Promise.all(requests);
        const probes = await Promise.all(probing);
        const exit = await Promise.race([
          server.exited,
          new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
        ]);
        const exitedAfterMs = Date.now() - signalledAt;
        const log = server.output();

        const broken = [...outcomes, ...probes].filter(
          (outcome) => outcome.kind === 'broken' || (outcome.kind === 'response' && (!outcome.complete || ![401, 429].includes(outcome.status))),
        );
        expect(broken, `requests not answered in full nor refused at connect:\n${JSON.stringify(broken, null, 1)}\n${log}`).to.deep.equal([]);
        expect(refusedAt, `connections made after ${signal}: ${JSON.stringify(probes)}`).to.be.a('number');
        const answeredAfterProbe = outcomes.filter((outcome) => outcome.kind === 'response' && outcome.at > refusedAt!);
        expect(answeredAfterProbe.length, 'requests still in flight when new connections were already refused').to.be.greaterThan(0);
        expect(outcomes.every((outcome) => outcome.kind === 'response'), 'every request made before the signal is answered').to.equal(true);
        expect(exit, `exit after ${signal}\n${log}`).to.deep.equal({ code: 0, signal: null });
        expect(exitedAfterMs, 'time from the signal to the exit').to.be.lessThan(20_000);
        const lastAnswer = Math.max(...outcomes.map((outcome) => outcome.at));
        expect(Date.now() - lastAnswer, 'time from the last answer to the exit').to.be.lessThan(5_000);
      } finally {
        agent.destroy();
      }
    });
  }
});
