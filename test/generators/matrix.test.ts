import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { TestServer, uniqueEmail } from '../helpers/server.js';
import { tokenFrom } from '../helpers/mail-catcher.js';
import { PrismProxy, freePort } from '../helpers/prism.js';

/**
 * The generator matrix (npm run test:generators; issue 16): clients made from the spec by four third-party
 * TypeScript generators, as a client team would use them, must compile under `tsc --strict` and run one journey
 * against the real server: register → verify → login → getMe → refresh → logout, then the MFA branch of login
 * (email codes on, login answers a challenge, verifyMfa finishes). Each client is generated from the spec the
 * server serves at /openapi.json (whose server is the deployment's PUBLIC_URL), and no journey is told the URL.
 *
 * The deployment's PUBLIC_URL is a Prism validating proxy (`prism proxy --errors`) in front of the server, so every
 * request and answer of the journeys is also checked against the spec by a third-party validator: a violation
 * fails the request (Prism answers with an error instead) and the run (Prism's log and `sl-violations` headers).
 *
 * The generators (exact versions in test/generators/package.json) are installed once into a cache folder outside
 * the project (scripts/tool-cache.sh), not into node_modules.
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = join(ROOT, 'test', 'generators');
const CLIENTS = join(HERE, 'clients');

const GENERATORS = ['hey-api', 'orval', 'swagger-typescript-api', 'openapi-typescript-codegen'] as const;
type Generator = (typeof GENERATORS)[number];

/** The command line that writes each client into clients/<name>, as each tool's documentation shows it. */
function commands(bin: string, spec: string): Record<Generator, { file: string; args: string[] }> {
  const orvalConfig = join(CLIENTS, 'orval.config.cjs');
  writeFileSync(
    orvalConfig,
    `module.exports = { pulse: { input: { target: ${JSON.stringify(spec)} }, output: { target: ${JSON.stringify(join(CLIENTS, 'orval', 'api.ts'))}, client: 'fetch', baseUrl: { getBaseUrlFromSpecification: true } } } };\n`,
  );
  return {
    'hey-api': { file: join(bin, 'openapi-ts'), args: ['-i', spec, '-o', join(CLIENTS, 'hey-api'), '-c', '@hey-api/client-fetch'] },
    orval: { file: join(bin, 'orval'), args: ['--config', orvalConfig] },
    'swagger-typescript-api': {
      file: join(bin, 'swagger-typescript-api'),
      args: ['generate', '-p', spec, '-o', join(CLIENTS, 'swagger-typescript-api'), '-n', 'api.ts'],
    },
    'openapi-typescript-codegen': { file: join(bin, 'openapi'), args: ['--input', spec, '--output', join(CLIENTS, 'openapi-typescript-codegen'), '--client', 'fetch'] },
  };
}

/** What each journeys/<generator>.ts exports (see journeys/journey.ts; not imported here, so that `npm run
 * typecheck` does not need the generated clients). */
interface Journey {
  run(context: {
    email: string;
    password: string;
    verificationToken(): Promise<string>;
    signInCode(): Promise<string>;
  }): Promise<{ userId: string; accessTokens: string[]; afterLogoutStatus: number; challengeMethods: string[]; mfaOutcome: string }>;
}

interface Sent {
  method: string;
  url: string;
  headers: Headers;
  status: number;
  /** Prism's account of what in this exchange breaks the spec (absent when nothing does). */
  violations: string | null;
}

describe('generator matrix: third-party clients compile under --strict and run the journey', function () {
  this.timeout(180_000);
  let app: TestServer;
  let prism: PrismProxy | undefined;
  let publicUrl = '';
  let sent: Sent[] = [];
  const realFetch = globalThis.fetch;

  before(async () => {
    const begun = Date.now();
    const { stdout } = await run('bash', [join(ROOT, 'scripts', 'tool-cache.sh'), 'generators'], { cwd: ROOT, maxBuffer: 1 << 24 });
    const bin = join(stdout.trim(), 'node_modules', '.bin');
    const prismPort = await freePort();
    publicUrl = `http://127.0.0.1:${prismPort}`;
    app = await TestServer.start({ PUBLIC_URL: publicUrl });

    rmSync(CLIENTS, { recursive: true, force: true });
    mkdirSync(CLIENTS, { recursive: true });
    const served = await realFetch(`${app.baseUrl}/openapi.json`);
    expect(served.status).to.equal(200);
    const document = (await served.json()) as { servers: unknown };
    expect(document.servers, 'the served spec names this deployment').to.deep.equal([{ url: publicUrl, description: 'This deployment' }]);
    const spec = join(CLIENTS, 'openapi.json');
    writeFileSync(spec, JSON.stringify(document));

    const prismReady = PrismProxy.start(spec, app.baseUrl, prismPort).then((proxy) => (prism = proxy));
    prismReady.catch(() => {}); // awaited below, after the generators
    const started = Date.now();
    await Promise.all(
      Object.entries(commands(bin, spec)).map(([name, { file, args }]) =>
        run(file, args, { cwd: CLIENTS, maxBuffer: 1 << 24 }).catch((error) => {
          throw new Error(`${name} did not generate a client: ${error.stderr || error.message}`);
        }),
      ),
    );
    const generated = Date.now();
    // One strict compile of the four clients and the journeys through them.
    await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(HERE, 'tsconfig.json')], { cwd: ROOT, maxBuffer: 1 << 24 }).catch((error) => {
      throw new Error(`the generated clients do not compile under --strict:\n${error.stdout}${error.stderr}`);
    });
    const compiled = Date.now();
    await prismReady;
    console.log(`      generated in ${generated - started} ms, compiled in ${compiled - generated} ms, prism ready ${Date.now() - compiled} ms later`);

    // Every request the clients send goes through here (they all use the global fetch).
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      const response = await realFetch(request);
      sent.push({ method: request.method, url: request.url, headers: request.headers, status: response.status, violations: response.headers.get('sl-violations') });
      return response;
    };
  });

  after(async () => {
    globalThis.fetch = realFetch;
    await prism?.stop();
    await app?.stop();
  });

  beforeEach(() => {
    sent = [];
  });

  for (const generator of GENERATORS) {
    it(`${generator}: register, verify, login, getMe, refresh, logout, and a sign-in with a second factor`, async () => {
      const email = uniqueEmail(generator.replace(/[^a-z]/g, ''));
      const journey = (await import(pathToFileURL(join(HERE, 'journeys', `${generator}.ts`)).href)) as Journey;
      let mails = app.mail.mails.length;
      const result = await journey.run({
        email,
        password: `a long ${generator} passphrase`,
        verificationToken: async () => tokenFrom(await app.mail.next(email, { subject: /Confirm/, after: mails })),
        signInCode: async () => {
          const mail = await app.mail.next(email, { subject: /sign-in code/, after: mails });
          mails = app.mail.mails.indexOf(mail) + 1;
          return /\b(\d{6})\b/.exec(mail.text)![1];
        },
      });

      expect(result.userId).to.match(/^[0-9a-f-]{36}$/);
      expect(result.afterLogoutStatus, 'the signed-out access token is refused').to.equal(401);
      expect(result.challengeMethods).to.deep.equal(['email']);
      expect(result.mfaOutcome).to.equal('signed-in');
      expect(result.accessTokens).to.have.length(4);

      // No base URL was set by hand: every request went to the server the served spec names (the Prism proxy).
      expect(sent.length).to.be.greaterThan(10);
      for (const request of sent) expect(request.url.startsWith(`${publicUrl}/`), request.url).to.equal(true);
      // Prism found nothing in the requests or the answers that breaks the spec.
      for (const request of sent) expect(request.violations, `${request.method} ${request.url} → ${request.status}`).to.equal(null);
      expect(prism!.violations()).to.deep.equal([]);
      // The access token is a bearer credential only: never a cookie (the bug of the apiKey cookie scheme), and
      // never sent to the operations that do not take it.
      for (const request of sent) {
        const where = `${request.method} ${new URL(request.url).pathname}`;
        expect(request.headers.get('cookie'), `${where} sent a cookie`).to.equal(null);
        const authorization = request.headers.get('authorization');
        if (authorization) expect(authorization, where).to.match(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
        // openapi-typescript-codegen sends its OpenAPI.TOKEN with every request, whatever the operation's security;
        // the server (and the Prism proxy) accept that. The others send it only where the spec asks for it.
        if (generator !== 'openapi-typescript-codegen' && /\/v1\/auth\/(register|verify-email|login|refresh|mfa\/verify)$/.test(request.url)) {
          expect(authorization, `${where} needs no access token`).to.equal(null);
        }
      }
    });
  }
});
