import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { ConfigSchema, type RawConfig } from './schema.js';
import { isEmailAddress } from '../domain/users/email-format.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The configuration the app runs with: every default applied and every derived value resolved. */
export interface Config
  extends Readonly<Omit<RawConfig, 'PUBLIC_URL' | 'APP_URL' | 'JWT_AUDIENCE' | 'VALIDATE_RESPONSES' | 'LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD' | 'WEBAUTHN_RP_ID' | 'WEBAUTHN_ORIGINS'>> {
  readonly PUBLIC_URL: string;
  readonly APP_URL: string;
  readonly JWT_AUDIENCE: string;
  readonly VALIDATE_RESPONSES: boolean;
  readonly LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: number;
  /** The relying-party ID of passkeys: WEBAUTHN_RP_ID, or the host name of APP_URL. */
  readonly WEBAUTHN_RP_ID: string;
  /** The origins a passkey ceremony may come from: WEBAUTHN_ORIGINS, or the origin of APP_URL. */
  readonly webauthnOrigins: readonly string[];
  readonly corsOrigins: readonly string[];
  readonly adminEmails: ReadonlySet<string>;
  readonly providers: readonly ProviderConfig[];
}

/** A social sign-in provider: Google, or an OpenID Connect provider from OIDC_PROVIDERS. */
export interface ProviderConfig {
  name: string;
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

const KEYS = Object.keys(ConfigSchema.properties);

/**
 * Keys that carry a secret (a password in a URL, a token, a private key, a client secret). Each may instead be read
 * from a file named by `<KEY>_FILE` (Docker and Kubernetes secrets, systemd credentials), as may every provider's
 * `OIDC_<NAME>_CLIENT_SECRET`.
 */
export const SECRET_BEARING_KEYS = ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'SIGNING_KEY', 'GOOGLE_CLIENT_SECRET', 'METRICS_TOKEN', 'WEBHOOK_SECRET_KEY'] as const;
const FILE_KEYS = SECRET_BEARING_KEYS.map((key) => `${key}_FILE`);
const OIDC_SECRET_FILE = /^OIDC_[A-Z0-9_]+_CLIENT_SECRET_FILE$/;

export interface LoadOptions {
  /** Reads a `*_FILE` secret (tests pass their own). */
  readFile?: (path: string) => string;
}

/**
 * Reads the configuration from an environment-like object. Unknown variables are ignored (the environment holds
 * many); every bad key is reported at once in one ConfigError, in one pass: a key that fails its own check is left
 * out of the checks that combine keys, and every other check still runs.
 */
export function loadConfig(env: Record<string, string | undefined>, options: LoadOptions = {}): Config {
  const { env: resolved, problems } = readSecretFiles(env, options.readFile ?? ((path) => readFileSync(path, 'utf8')));
  env = resolved;
  const input: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, input)) as Record<string, unknown>;
  const bad = new Set<string>(problems.map((problem) => problem.split(':')[0].replace(/_FILE$/, '')));
  for (const error of Value.Errors(ConfigSchema, converted)) {
    const key = error.instancePath.slice(1);
    bad.add(key);
    problems.push(`${key || '(root)'}: ${error.message}${shown(key, input[key])}`);
  }
  problems.push(...adminEmailProblems(env.ADMIN_EMAILS ?? ''));
  // Keys that failed their own check take their defaults for the checks that follow (which then say nothing new about them).
  const defaults = Value.Default(ConfigSchema, {}) as Record<string, unknown>;
  for (const key of bad) {
    if (key in defaults) converted[key] = defaults[key];
    else delete converted[key];
  }
  const raw = converted as RawConfig;

  const publicUrl = stripTrailingSlash(raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`);
  const { providers, problems: providerProblems } = readProviders(raw, env);
  const appUrl = stripTrailingSlash(raw.APP_URL ?? publicUrl);
  const config: Config = {
    ...raw,
    PUBLIC_URL: publicUrl,
    APP_URL: appUrl,
    WEBAUTHN_RP_ID: raw.WEBAUTHN_RP_ID ?? hostOf(appUrl),
    webauthnOrigins: raw.WEBAUTHN_ORIGINS ? splitList(raw.WEBAUTHN_ORIGINS).map(stripTrailingSlash) : [originOf(appUrl)],
    JWT_AUDIENCE: raw.JWT_AUDIENCE ?? publicUrl,
    VALIDATE_RESPONSES: raw.VALIDATE_RESPONSES ?? raw.NODE_ENV !== 'production',
    LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: raw.LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD ?? 4 * raw.LOCKOUT_ACCOUNT_THRESHOLD,
    corsOrigins: splitList(raw.CORS_ORIGINS),
    adminEmails: new Set(splitList(raw.ADMIN_EMAILS).map((email) => email.toLowerCase())),
    providers,
  };
  problems.push(...checkCombinations(config, bad), ...providerProblems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/**
 * `<KEY>_FILE` for every secret-bearing key: the file's content (without its final line break) becomes the key's
 * value, read once, here. Setting both the key and its file, or naming a file that cannot be read, is a problem.
 */
function readSecretFiles(env: Record<string, string | undefined>, readFile: (path: string) => string) {
  const problems: string[] = [];
  const resolved = { ...env };
  const fileKeys = [...FILE_KEYS, ...Object.keys(env).filter((key) => OIDC_SECRET_FILE.test(key))];
  for (const fileKey of fileKeys) {
    const path = env[fileKey];
    if (path === undefined || path === '') continue;
    const key = fileKey.slice(0, -'_FILE'.length);
    if (env[key] !== undefined && env[key] !== '') {
      problems.push(`${fileKey}: set ${key} or ${fileKey}, not both`);
      continue;
    }
    let content: string;
    try {
      content = readFile(path).replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${fileKey}: cannot read ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      continue;
    }
    if (content === '') problems.push(`${fileKey}: ${JSON.stringify(path)} is empty`);
    else resolved[key] = content;
  }
  return { env: resolved, problems };
}

/** Google from its two keys; every name in OIDC_PROVIDERS from its three `OIDC_<NAME>_…` keys. */
function readProviders(raw: RawConfig, env: Record<string, string | undefined>): { providers: ProviderConfig[]; problems: string[] } {
  const providers: ProviderConfig[] = [];
  const problems: string[] = [];
  if (Boolean(raw.GOOGLE_CLIENT_ID) !== Boolean(raw.GOOGLE_CLIENT_SECRET)) {
    problems.push('GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET: set both or neither');
  } else if (raw.GOOGLE_CLIENT_ID) {
    providers.push({
      name: 'google',
      displayName: 'Google',
      issuer: 'https://accounts.google.com',
      clientId: raw.GOOGLE_CLIENT_ID,
      clientSecret: raw.GOOGLE_CLIENT_SECRET!,
    });
  }
  for (const name of splitList(raw.OIDC_PROVIDERS)) {
    if (!/^[a-z0-9-]{1,32}$/.test(name)) {
      problems.push(`OIDC_PROVIDERS: "${name}" is not a provider name (lower-case letters, digits and dashes)`);
      continue;
    }
    if (providers.some((provider) => provider.name === name)) {
      problems.push(`OIDC_PROVIDERS: "${name}" is listed twice (or clashes with google)`);
      continue;
    }
    const prefix = `OIDC_${name.toUpperCase().replace(/-/g, '_')}_`;
    const [issuer, clientId, clientSecret] = ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET'].map((key) => env[prefix + key]);
    for (const [key, value] of [['ISSUER', issuer], ['CLIENT_ID', clientId], ['CLIENT_SECRET', clientSecret]] as const) {
      if (!value) problems.push(`${prefix}${key}: required for the "${name}" provider listed in OIDC_PROVIDERS`);
    }
    if (issuer && !/^https?:\/\//.test(issuer)) problems.push(`${prefix}ISSUER: must be an http(s) URL${shown(`${prefix}ISSUER`, issuer)}`);
    else if (issuer?.startsWith('http:') && !raw.OIDC_ALLOW_HTTP_ISSUERS) {
      problems.push(`${prefix}ISSUER: an http:// issuer needs OIDC_ALLOW_HTTP_ISSUERS=true (local test providers only)`);
    }
    if (issuer && clientId && clientSecret) {
      providers.push({ name, displayName: name.charAt(0).toUpperCase() + name.slice(1), issuer, clientId, clientSecret });
    }
  }
  if (raw.OIDC_ALLOW_HTTP_ISSUERS && raw.NODE_ENV === 'production') {
    problems.push('OIDC_ALLOW_HTTP_ISSUERS: not allowed in production (tokens would cross the network in clear)');
  }
  return { providers, problems };
}

/** Checks that combine keys; `bad` holds keys already reported (they are not blamed twice). */
function checkCombinations(config: Config, bad: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const ok = (...keys: string[]) => keys.every((key) => !bad.has(key));
  const production = config.NODE_ENV === 'production' && ok('NODE_ENV');
  for (const key of ['PUBLIC_URL', 'APP_URL'] as const) {
    if (!ok(key)) continue;
    if (!/^https?:\/\//.test(config[key])) problems.push(`${key}: must be an http(s) URL${shown(key, config[key])}`);
    else if (production && config[key].startsWith('http:') && !isLoopbackUrl(config[key])) {
      const carries = key === 'PUBLIC_URL' ? 'tokens and refresh cookies' : 'the tokens in mailed links';
      problems.push(`${key}: must be https:// in production (http:// only for localhost, 127.0.0.1 or [::1]), or ${carries} cross the network in clear${shown(key, config[key])}`);
    }
  }
  if (ok('HTTP_HEADERS_TIMEOUT_SECONDS', 'HTTP_REQUEST_TIMEOUT_SECONDS') && config.HTTP_HEADERS_TIMEOUT_SECONDS > config.HTTP_REQUEST_TIMEOUT_SECONDS) {
    problems.push('HTTP_HEADERS_TIMEOUT_SECONDS: must not be longer than HTTP_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)');
  }
  if (ok('LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD', 'LOCKOUT_ACCOUNT_THRESHOLD') && config.LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD < config.LOCKOUT_ACCOUNT_THRESHOLD) {
    problems.push('LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: must be at least LOCKOUT_ACCOUNT_THRESHOLD (it counts the failures of every client together)');
  }
  if (ok('RATE_LIMIT_STORE', 'REDIS_URL') && config.RATE_LIMIT_STORE === 'redis' && !config.REDIS_URL) problems.push('RATE_LIMIT_STORE: `redis` needs REDIS_URL');
  if (ok('RATE_LIMIT_STORE', 'DATABASE_URL') && config.RATE_LIMIT_STORE === 'database' && !config.DATABASE_URL.startsWith('postgres')) {
    problems.push('RATE_LIMIT_STORE: `database` needs PostgreSQL (with SQLite, one instance: use `memory`)');
  }
  if (ok('WEBAUTHN_RP_ID', 'WEBAUTHN_ORIGINS', 'APP_URL', 'PUBLIC_URL')) problems.push(...webauthnProblems(config, production));
  if (production && ok('METRICS_TOKEN') && !config.METRICS_TOKEN) {
    problems.push('METRICS_TOKEN: required in production, or /metrics is open to anyone (at least 16 characters)');
  }
  if (production && ok('SMTP_URL') && !config.SMTP_URL) {
    problems.push('SMTP_URL: required in production; without it mail goes to the development outbox (.eml files with live links on disk, nothing delivered)');
  }
  if (production && ok('WEBHOOK_SECRET_KEY') && !config.WEBHOOK_SECRET_KEY) {
    problems.push('WEBHOOK_SECRET_KEY: required in production (at least 32 characters): webhook signing secrets are encrypted under it, and without it under a development key anyone can read in the source');
  }
  if (production && ok('DATABASE_URL') && config.DATABASE_URL === 'file::memory:') {
    problems.push('DATABASE_URL: an in-memory database loses every account on restart; not allowed in production');
  }
  return problems;
}

/** http:// stays allowed in production for this machine's own addresses (a local trial, a sidecar proxy). */
function isLoopbackUrl(url: string): boolean {
  try {
    return ['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * Every WebAuthn origin must be a bare http(s) origin. In production the relying-party ID must be the host of every
 * origin or a parent domain of it (`example.com` for `https://app.example.com`): browsers refuse any other pairing,
 * so every passkey ceremony would fail.
 */
function webauthnProblems(config: Config, production: boolean): string[] {
  const problems: string[] = [];
  const rpId = config.WEBAUTHN_RP_ID.toLowerCase();
  for (const origin of config.webauthnOrigins) {
    let url: URL | null = null;
    try {
      url = new URL(origin);
    } catch {
      url = null;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin) {
      problems.push(`WEBAUTHN_ORIGINS: "${origin}" is not an origin (scheme, host and port, no path)`);
      continue;
    }
    const host = url.hostname.toLowerCase();
    if (production && host !== rpId && !host.endsWith(`.${rpId}`)) {
      problems.push(`WEBAUTHN_RP_ID: "${rpId}" is not the host of ${origin} nor a parent domain of it; browsers would refuse every passkey`);
    }
  }
  return problems;
}

/** The host name of a URL, or '' when it does not parse (checkCombinations reports that). */
function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/**
 * ADMIN_EMAILS entries must be addresses sign-up would accept: matching is by the lower-cased address, and a
 * Unicode entry could lower-case onto someone else's (U+212A KELVIN SIGN becomes "k").
 */
function adminEmailProblems(value: string): string[] {
  const bad = splitList(value).filter((email) => !isEmailAddress(email));
  // Escaped, so that the message shows what is wrong with an entry that looks right (a Kelvin sign looks like a K).
  const escaped = (email: string) => JSON.stringify(email).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return bad.length ? [`ADMIN_EMAILS: ${bad.map(escaped).join(', ')} is not a plain ASCII email address`] : [];
}

/** Keys whose values are secrets: a problem names them but never shows the value. */
const SECRET_KEYS = /(^SIGNING_KEY|_SECRET|_SECRET_KEY|_TOKEN|_PASSWORD)$/;

/** The value of a bad key as a problem shows it: secrets not at all, URLs without their credentials. */
function shown(key: string, value: unknown): string {
  if (value === undefined) return '';
  if (SECRET_KEYS.test(key)) return ` (${String(value).length} characters, not shown)`;
  if (typeof value === 'string' && /(_URL|_ISSUER)$/.test(key)) return ` (got ${JSON.stringify(withoutCredentials(value))})`;
  return ` (got ${JSON.stringify(value)})`;
}

/**
 * A URL without its userinfo and query values (`postgres://***@db/app`). Done on the text, not with `new URL`:
 * a URL bad enough to be reported may not parse, and may still carry a password.
 */
export function withoutCredentials(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:(\/\/)?/i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  // The last `@`: a password may hold an unencoded `@` or `/`.
  const at = rest.lastIndexOf('@');
  return scheme + (at >= 0 ? `***@${rest.slice(at + 1)}` : rest).replace(/([?&][^=&#]*=)[^&#]*/g, '$1***');
}

const splitList = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const stripTrailingSlash = (url: string) => url.replace(/\/+$/, '');

/** Every key the configuration reads by name (the schema's, and the `*_FILE` variants of the secret-bearing ones). */
export const configKeys = [...KEYS, ...FILE_KEYS];
