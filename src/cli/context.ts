import { existsSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { createLogger } from '../observability/logger.js';
import type { Config } from '../config/load.js';
import type { Services } from '../services.js';

/** A failure the command explains itself: its message goes to stderr as it is, and the exit code is 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** A command line that does not parse: the message and the usage go to stderr, and the exit code is 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

/** What a command gets: its arguments, where to print, and the configuration (read on first use). */
export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  env: Record<string, string | undefined>;
  out(line: string): void;
  /** Progress and notes, on stderr: stdout stays the command's answer. */
  err(line: string): void;
  config(): Config;
}

/** The environment as the server sees it: a `.env` file in the working directory fills in what is unset. */
export function cliEnvironment(): Record<string, string | undefined> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return process.env;
}

/**
 * Log lines of the services go to stderr, so that stdout carries only what the command prints. Quieter than the
 * server: `warn` unless LOG_LEVEL is set.
 */
export function cliLogger(config: Config, env: Record<string, string | undefined>): Logger {
  return createLogger({ level: env.LOG_LEVEL ? config.LOG_LEVEL : 'warn', base: { cli: true }, destination: pino.destination({ fd: 2, sync: true }) });
}

/**
 * Runs `work` with the services of the configuration, then closes them (pool, worker threads, Redis). Jobs are not
 * started: a command does its one thing and exits.
 */
export async function withServices<T>(context: CommandContext, work: (services: Services) => Promise<T>): Promise<T> {
  const config = context.config();
  // Loaded here, not at the top: `pulse-auth help` need not load the whole application.
  const { createServices } = await import('../services.js');
  // One thread is enough for the one password a command may hash.
  const services = await createServices({ ...config, PASSWORD_HASH_THREADS: 1 }, { logger: cliLogger(config, context.env) });
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
