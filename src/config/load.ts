import Value from 'typebox/value';
import { ConfigSchema, type RawConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The configuration the app runs with: every default applied and every derived value resolved. */
export interface Config
  extends Readonly<Omit<RawConfig, 'PUBLIC_URL' | 'APP_URL' | 'JWT_AUDIENCE' | 'VALIDATE_RESPONSES' | 'LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD'>> {
  readonly PUBLIC_URL: string;
  readonly APP_URL: string;
  readonly JWT_AUDIENCE: string;
  readonly VALIDATE_RESPONSES: boolean;
  readonly LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: number;
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
 * Reads the configuration from an environment-like object. Unknown variables are ignored (the environment holds
 * many); every bad key is reported at once in one ConfigError.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, input));
  const problems = [...Value.Errors(ConfigSchema, converted)].map(
    (error) => `${error.instancePath.slice(1) || '(root)'}: ${error.message} (got ${JSON.stringify(input[error.instancePath.slice(1)])})`,
  );
  if (problems.length > 0) throw new ConfigError(problems);
  const raw = converted as RawConfig;

  const publicUrl = stripTrailingSlash(raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`);
  const { providers, problems: providerProblems } = readProviders(raw, env);
  const config: Config = {
    ...raw,
    PUBLIC_URL: publicUrl,
    APP_URL: stripTrailingSlash(raw.APP_URL ?? publicUrl),
    JWT_AUDIENCE: raw.JWT_AUDIENCE ?? publicUrl,
    VALIDATE_RESPONSES: raw.VALIDATE_RESPONSES ?? raw.NODE_ENV !== 'production',
    LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: raw.LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD ?? 4 * raw.LOCKOUT_ACCOUNT_THRESHOLD,
    corsOrigins: splitList(raw.CORS_ORIGINS),
    adminEmails: new Set(splitList(raw.ADMIN_EMAILS).map((email) => email.toLowerCase())),
    providers,
  };
  const semantic = [...checkCombinations(config), ...providerProblems];
  if (semantic.length > 0) throw new ConfigError(semantic);
  return Object.freeze(config);
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
    if (issuer && !/^https?:\/\//.test(issuer)) problems.push(`${prefix}ISSUER: must be an http(s) URL (got ${JSON.stringify(issuer)})`);
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

function checkCombinations(config: Config): string[] {
  const problems: string[] = [];
  for (const key of ['PUBLIC_URL', 'APP_URL'] as const) {
    if (!/^https?:\/\//.test(config[key])) problems.push(`${key}: must be an http(s) URL (got ${JSON.stringify(config[key])})`);
  }
  if (config.LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD < config.LOCKOUT_ACCOUNT_THRESHOLD) {
    problems.push('LOCKOUT_ACCOUNT_GLOBAL_THRESHOLD: must be at least LOCKOUT_ACCOUNT_THRESHOLD (it counts the failures of every client together)');
  }
  if (config.RATE_LIMIT_STORE === 'redis' && !config.REDIS_URL) problems.push('RATE_LIMIT_STORE: `redis` needs REDIS_URL');
  if (config.RATE_LIMIT_STORE === 'database' && !config.DATABASE_URL.startsWith('postgres')) {
    problems.push('RATE_LIMIT_STORE: `database` needs PostgreSQL (with SQLite, one instance: use `memory`)');
  }
  if (config.NODE_ENV === 'production' && config.DATABASE_URL === 'file::memory:') {
    problems.push('DATABASE_URL: an in-memory database loses every account on restart; not allowed in production');
  }
  return problems;
}

const splitList = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const stripTrailingSlash = (url: string) => url.replace(/\/+$/, '');

export const configKeys = KEYS;
