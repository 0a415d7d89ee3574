import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { ConfigError, configKeys, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('starts with no configuration at all: SQLite under ./data and the development outbox', () => {
    const config = loadConfig({});
    expect(config).to.include({
      PORT: 3000,
      PUBLIC_URL: 'http://localhost:3000',
      APP_URL: 'http://localhost:3000',
      JWT_AUDIENCE: 'http://localhost:3000',
      DATABASE_URL: 'file:./data/pulse-auth.sqlite',
      ACCESS_TOKEN_TTL: 900,
      REFRESH_TOKEN_TTL: 2_592_000,
      REFRESH_REUSE_GRACE: 10,
      BCRYPT_COST: 12,
      VERIFICATION_TTL: 1800,
      TRUST_PROXY: false,
      VALIDATE_RESPONSES: true,
    });
    expect(config.SMTP_URL).to.equal(undefined);
  });

  it('derives the URLs and lists from what is set', () => {
    const config = loadConfig({
      PORT: '8080',
      PUBLIC_URL: 'https://auth.example.com/',
      CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
      ADMIN_EMAILS: 'Root@Example.com',
      TRUST_PROXY: 'true',
      NODE_ENV: 'production',
      METRICS_TOKEN: 'a-metrics-token-long-enough',
      SMTP_URL: 'smtp://mail.example.com:587',
      WEBHOOK_SECRET_KEY: 'a-webhook-secret-key-long-enough-0123456789',
    });
    expect(config.PUBLIC_URL).to.equal('https://auth.example.com');
    expect(config.APP_URL).to.equal('https://auth.example.com');
    expect(config.corsOrigins).to.deep.equal(['https://a.example.com', 'https://b.example.com']);
    expect([...config.adminEmails]).to.deep.equal(['root@example.com']);
    expect(config.TRUST_PROXY).to.equal(true);
    expect(config.VALIDATE_RESPONSES).to.equal(false);
  });

  it('names every bad key in one error', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', BCRYPT_COST: '40', DATABASE_URL: 'mysql://x', NODE_ENV: 'staging', TRUST_PROXY: 'perhaps' });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const keys = (error as ConfigError).problems.map((problem) => problem.split(':')[0]);
    expect(keys).to.include.members(['PORT', 'BCRYPT_COST', 'DATABASE_URL', 'NODE_ENV', 'TRUST_PROXY']);
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://auth.example.com' })).to.throw(ConfigError, /PUBLIC_URL/);
  });

  /** The problems of a configuration that must not load. */
  function problemsOf(env: Record<string, string>): string[] {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error(`the configuration loaded: ${JSON.stringify(env)}`);
  }

  it('Secrets in configuration errors: a bad DATABASE_URL, SMTP_URL, REDIS_URL, METRICS_TOKEN or SIGNING_KEY is named in the message, its password or secret never', () => {
    const secret = 'hunter2-s3cret';
    const problems = problemsOf({
      DATABASE_URL: `mysql://root:${secret}@db.example.com/pulse`,
      // A typo'd scheme, so no URL parser finds the userinfo: still not shown.
      SMTP_URL: `smtp//mailer:${secret}@mail.example.com:587`,
      REDIS_URL: `http://default:${secret}@cache.example.com:6379?password=${secret}`,
      METRICS_TOKEN: secret,
      SIGNING_KEY: '{',
    });
    const message = new ConfigError(problems).message;
    for (const key of ['DATABASE_URL', 'SMTP_URL', 'REDIS_URL', 'METRICS_TOKEN', 'SIGNING_KEY']) {
      expect(problems.some((problem) => problem.startsWith(`${key}:`)), key).to.equal(true);
    }
    expect(message).not.to.contain(secret);
    expect(message).not.to.contain('"{"');
    // What is left still helps to find the mistake.
    expect(message).to.contain('mysql://***@db.example.com/pulse');
  });

  it('Secrets in configuration errors: client secrets of providers and URLs in later checks are not echoed either', () => {
    const secret = 'hunter2-s3cret';
    const problems = problemsOf({
      GOOGLE_CLIENT_SECRET: secret,
      OIDC_PROVIDERS: 'acme',
      OIDC_ACME_ISSUER: `ftp://client:${secret}@idp.example.com`,
      OIDC_ACME_CLIENT_SECRET: secret,
      PUBLIC_URL: `ftp://admin:${secret}@auth.example.com`,
    });
    const message = new ConfigError(problems).message;
    for (const key of ['GOOGLE_CLIENT_ID', 'OIDC_ACME_ISSUER', 'OIDC_ACME_CLIENT_ID', 'PUBLIC_URL']) expect(message, key).to.contain(key);
    expect(message).not.to.contain(secret);
  });

  it('Unicode email folding: an ADMIN_EMAILS entry that is not a plain ASCII address (a Kelvin sign for the k) is a configuration error, not an admin kate@example.com', () => {
    const problems = problemsOf({ ADMIN_EMAILS: 'root@example.com, \u212Aate@example.com' });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/^ADMIN_EMAILS: /);
    expect(problemsOf({ ADMIN_EMAILS: 'not an address' })[0]).to.match(/^ADMIN_EMAILS: /);
    expect([...loadConfig({ ADMIN_EMAILS: 'Root@Example.com,kate@example.com' }).adminEmails]).to.deep.equal(['root@example.com', 'kate@example.com']);
  });

  it('Open metrics: production without METRICS_TOKEN is a configuration error naming METRICS_TOKEN', () => {
    const problems = problemsOf({ NODE_ENV: 'production', SMTP_URL: 'smtp://mail.example.com', WEBHOOK_SECRET_KEY: 'a-webhook-secret-key-long-enough-0123456789' });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/^METRICS_TOKEN: /);
    expect(loadConfig({ ...PRODUCTION, METRICS_TOKEN: 'a-metrics-token-long-enough' }).METRICS_TOKEN).to.equal('a-metrics-token-long-enough');
    // Development and tests may leave it open.
    expect(loadConfig({}).METRICS_TOKEN).to.equal(undefined);
  });

  it('Slow clients: cuts slow requests after 10 s for the headers and 30 s for the whole request by default; the headers timeout may not exceed the request timeout', () => {
    expect(loadConfig({})).to.include({ HTTP_HEADERS_TIMEOUT_SECONDS: 10, HTTP_REQUEST_TIMEOUT_SECONDS: 30 });
    expect(problemsOf({ HTTP_HEADERS_TIMEOUT_SECONDS: '60' })[0]).to.match(/^HTTP_HEADERS_TIMEOUT_SECONDS: /);
    expect(problemsOf({ HTTP_REQUEST_TIMEOUT_SECONDS: '0' })[0]).to.match(/^HTTP_REQUEST_TIMEOUT_SECONDS: /);
  });

  it('Passkeys: the relying party defaults to APP_URL (host name and origin); production refuses an RP ID that is not a suffix of every origin host', () => {
    const dev = loadConfig({ PUBLIC_URL: 'http://localhost:4000', APP_URL: 'http://localhost:5173/app' });
    expect(dev.WEBAUTHN_RP_ID).to.equal('localhost');
    expect(dev.WEBAUTHN_RP_NAME).to.equal('Pulse Auth');
    expect(dev.webauthnOrigins).to.deep.equal(['http://localhost:5173']);
    const production = { NODE_ENV: 'production', METRICS_TOKEN: 'a-metrics-token-long-enough', SMTP_URL: 'smtp://mail.example.com:587', PUBLIC_URL: 'https://auth.example.com', APP_URL: 'https://app.example.com', WEBHOOK_SECRET_KEY: 'a-webhook-secret-key-long-enough-0123456789', };
    const set = loadConfig({ ...production, WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com, https://example.com/' });
    expect(set.WEBAUTHN_RP_ID).to.equal('example.com');
    expect(set.webauthnOrigins).to.deep.equal(['https://app.example.com', 'https://example.com']);
    // A look-alike domain is not a parent domain; nor is another site.
    const lookalike = problemsOf({ ...production, WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.badexample.com' });
    expect(lookalike).to.have.length(1);
    expect(lookalike[0]).to.match(/^WEBAUTHN_RP_ID: /);
    expect(problemsOf({ ...production, WEBAUTHN_RP_ID: 'other.example' })[0]).to.match(/^WEBAUTHN_RP_ID: /);
    // Reported with the other problems of the same configuration, in one pass.
    const together = problemsOf({ NODE_ENV: 'production', APP_URL: 'https://app.example.com', WEBAUTHN_RP_ID: 'other.example' });
    expect(together.map((problem) => problem.split(':')[0])).to.have.members(['WEBAUTHN_RP_ID', 'METRICS_TOKEN', 'SMTP_URL', 'WEBHOOK_SECRET_KEY']);
    // Development takes any pairing (a test page on another host), but never something that is not an origin.
    expect(loadConfig({ WEBAUTHN_RP_ID: 'other.example' }).WEBAUTHN_RP_ID).to.equal('other.example');
    expect(problemsOf({ WEBAUTHN_ORIGINS: 'https://app.example.com/login' })[0]).to.match(/^WEBAUTHN_ORIGINS: /);
  });

  /** A production configuration that loads. */
  const PRODUCTION = {
    NODE_ENV: 'production',
    PUBLIC_URL: 'https://auth.example.com',
    SMTP_URL: 'smtp://mail.example.com:587',
    METRICS_TOKEN: 'a-metrics-token-long-enough',
    WEBHOOK_SECRET_KEY: 'a-webhook-secret-key-long-enough-0123456789',
  };
  const keysOf = (problems: string[]) => problems.map((problem) => problem.split(':')[0]);

  it('Production guardrails: an http:// PUBLIC_URL or APP_URL is refused, except for localhost, 127.0.0.1 and [::1]', () => {
    expect(loadConfig(PRODUCTION).PUBLIC_URL).to.equal('https://auth.example.com');
    const problems = problemsOf({ ...PRODUCTION, PUBLIC_URL: 'http://auth.example.com', APP_URL: 'http://app.example.com' });
    expect(keysOf(problems)).to.deep.equal(['PUBLIC_URL', 'APP_URL']);
    expect(problems[0]).to.contain('https://');
    // APP_URL defaults to PUBLIC_URL: one mistake, one problem each.
    expect(keysOf(problemsOf({ ...PRODUCTION, PUBLIC_URL: 'http://10.0.0.5:3000' }))).to.deep.equal(['PUBLIC_URL', 'APP_URL']);
    for (const url of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000']) {
      expect(loadConfig({ ...PRODUCTION, PUBLIC_URL: url }).PUBLIC_URL, url).to.equal(url);
    }
    // A look-alike host is not this machine.
    expect(keysOf(problemsOf({ ...PRODUCTION, PUBLIC_URL: 'http://localhost.example.com' }))).to.include('PUBLIC_URL');
    // Outside production, http:// is fine.
    expect(loadConfig({ PUBLIC_URL: 'http://auth.example.com' }).PUBLIC_URL).to.equal('http://auth.example.com');
  });

  it('Production guardrails: the development outbox (no SMTP_URL) is refused in production', () => {
    const { SMTP_URL: _, ...withoutSmtp } = PRODUCTION;
    const problems = problemsOf(withoutSmtp);
    expect(keysOf(problems)).to.deep.equal(['SMTP_URL']);
    expect(problems[0]).to.match(/development outbox/);
    expect(loadConfig({}).SMTP_URL).to.equal(undefined);
  });

  it('Production guardrails: webhook signing secrets need WEBHOOK_SECRET_KEY (at least 32 characters) in production, which may come from a file', () => {
    const { WEBHOOK_SECRET_KEY: _, ...without } = PRODUCTION;
    const problems = problemsOf(without);
    expect(keysOf(problems)).to.deep.equal(['WEBHOOK_SECRET_KEY']);
    expect(keysOf(problemsOf({ ...PRODUCTION, WEBHOOK_SECRET_KEY: 'short' }))).to.deep.equal(['WEBHOOK_SECRET_KEY']);
    expect(new ConfigError(problemsOf({ ...PRODUCTION, WEBHOOK_SECRET_KEY: 'short-secret' })).message).not.to.contain('short-secret');
    expect(loadConfig({}).WEBHOOK_SECRET_KEY).to.equal(undefined);
    expect(loadConfig({})).to.include({ WEBHOOK_MAX_ATTEMPTS: 12, WEBHOOK_ALLOW_PRIVATE_NETWORKS: false });
  });

  it('Production guardrails: every bad key in one message, in one pass (its own check and the production rules together), secrets redacted', () => {
    const secret = 'hunter2-s3cret-value';
    const problems = problemsOf({
      NODE_ENV: 'production',
      PORT: 'eighty',
      PUBLIC_URL: 'http://auth.example.com',
      DATABASE_URL: `postgres://app:${secret}@db.example.com/pulse`,
      RATE_LIMIT_STORE: 'redis',
      HTTP_HEADERS_TIMEOUT_SECONDS: '60',
      SIGNING_KEY: '{',
    });
    expect(keysOf(problems)).to.have.members([
      'PORT', 'PUBLIC_URL', 'APP_URL', 'RATE_LIMIT_STORE', 'HTTP_HEADERS_TIMEOUT_SECONDS', 'METRICS_TOKEN', 'SMTP_URL', 'SIGNING_KEY', 'WEBHOOK_SECRET_KEY',
    ]);
    expect(new ConfigError(problems).message).not.to.contain(secret);
    // A key that fails its own check is not blamed again by the checks that combine keys.
    expect(keysOf(problemsOf({ HTTP_HEADERS_TIMEOUT_SECONDS: 'ten' }))).to.deep.equal(['HTTP_HEADERS_TIMEOUT_SECONDS']);
  });

  describe('*_FILE secrets', () => {
    const files: Record<string, string> = {
      '/run/secrets/db': 'postgres://app:from-a-file@db.example.com/pulse\n',
      '/run/secrets/smtp': 'smtp://mailer:pw@mail.example.com:587',
      '/run/secrets/metrics': 'metrics-token-from-a-file\r\n',
      '/run/secrets/redis': 'redis://:pw@cache.example.com:6379',
      '/run/secrets/key': '{"kty":"OKP","crv":"Ed25519","x":"x","d":"d","kid":"k"}',
      '/run/secrets/google': 'google-secret',
      '/run/secrets/acme': 'acme-secret',
      '/run/secrets/empty': '\n',
    };
    const readFile = (path: string) => {
      if (!(path in files)) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
      return files[path];
    };

    it('reads every secret-bearing key from its file once, at load, without the final line break', () => {
      let reads = 0;
      const config = loadConfig(
        {
          DATABASE_URL_FILE: '/run/secrets/db',
          SMTP_URL_FILE: '/run/secrets/smtp',
          METRICS_TOKEN_FILE: '/run/secrets/metrics',
          REDIS_URL_FILE: '/run/secrets/redis',
          SIGNING_KEY_FILE: '/run/secrets/key',
          GOOGLE_CLIENT_ID: 'google-client',
          GOOGLE_CLIENT_SECRET_FILE: '/run/secrets/google',
          OIDC_PROVIDERS: 'acme',
          OIDC_ACME_ISSUER: 'https://idp.example.com',
          OIDC_ACME_CLIENT_ID: 'acme-client',
          OIDC_ACME_CLIENT_SECRET_FILE: '/run/secrets/acme',
        },
        { readFile: (path) => (reads++, readFile(path)) },
      );
      expect(reads).to.equal(7);
      expect(config).to.include({
        DATABASE_URL: 'postgres://app:from-a-file@db.example.com/pulse',
        SMTP_URL: 'smtp://mailer:pw@mail.example.com:587',
        METRICS_TOKEN: 'metrics-token-from-a-file',
        REDIS_URL: 'redis://:pw@cache.example.com:6379',
        SIGNING_KEY: files['/run/secrets/key'],
        GOOGLE_CLIENT_SECRET: 'google-secret',
      });
      expect(config.providers.map((provider) => [provider.name, provider.clientSecret])).to.deep.equal([
        ['google', 'google-secret'],
        ['acme', 'acme-secret'],
      ]);
    });

    it('refuses a key set both ways, an unreadable file and an empty one, all in one message, with the file named and no secret shown', () => {
      const problems = (() => {
        try {
          loadConfig(
            {
              METRICS_TOKEN: 'metrics-token-in-the-environment',
              METRICS_TOKEN_FILE: '/run/secrets/metrics',
              DATABASE_URL_FILE: '/run/secrets/missing',
              SMTP_URL_FILE: '/run/secrets/empty',
              OIDC_PROVIDERS: 'acme',
              OIDC_ACME_ISSUER: 'https://idp.example.com',
              OIDC_ACME_CLIENT_ID: 'acme-client',
              OIDC_ACME_CLIENT_SECRET_FILE: '/run/secrets/nope',
              PORT: 'eighty',
            },
            { readFile },
          );
        } catch (error) {
          return (error as ConfigError).problems;
        }
        throw new Error('loaded');
      })();
      expect(keysOf(problems)).to.have.members(['METRICS_TOKEN_FILE', 'DATABASE_URL_FILE', 'SMTP_URL_FILE', 'OIDC_ACME_CLIENT_SECRET_FILE', 'OIDC_ACME_CLIENT_SECRET', 'PORT']);
      const message = new ConfigError(problems).message;
      expect(message).to.contain('/run/secrets/missing').and.to.contain('ENOENT').and.to.contain('not both');
      expect(message).not.to.contain('metrics-token');
    });

    it('reads the files from disk by default', async () => {
      const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = mkdtempSync(join(tmpdir(), 'pulse-auth-secrets-'));
      try {
        writeFileSync(join(dir, 'metrics'), 'metrics-token-on-disk-0123\n', { mode: 0o600 });
        expect(loadConfig({ METRICS_TOKEN_FILE: join(dir, 'metrics') }).METRICS_TOKEN).to.equal('metrics-token-on-disk-0123');
        expect(() => loadConfig({ METRICS_TOKEN_FILE: join(dir, 'absent') })).to.throw(ConfigError, /METRICS_TOKEN_FILE: cannot read/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('lists every key in .env.example, and nothing else', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]);
    expect([...listed].sort()).to.deep.equal([...configKeys].sort());
  });
});
