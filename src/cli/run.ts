import { parseArgs } from 'node:util';
import type { Config } from '../config/load.js';
import { CliError, UsageError, cliEnvironment, type CommandContext } from './context.js';
import type { Command } from './command.js';
import { migrateCommand } from './commands/migrate.js';
import { createAdminCommand } from './commands/create-admin.js';
import { rotateSigningKeyCommand } from './commands/rotate-signing-key.js';
import { cleanupCommand } from './commands/cleanup.js';
import { doctorCommand } from './commands/doctor.js';
import { outboxCommand } from './commands/outbox.js';
import { importUsersCommand } from './commands/import-users.js';
import { orgsCommand } from './commands/orgs.js';

export const commands: readonly Command[] = [migrateCommand, createAdminCommand, rotateSigningKeyCommand, cleanupCommand, outboxCommand, orgsCommand, doctorCommand, importUsersCommand];

export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

export function usage(): string {
  const width = Math.max(...commands.map((command) => command.synopsis.length), 'help [<command>]'.length);
  return [
    'Usage: pulse-auth <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.synopsis.padEnd(width)}  ${command.summary}`),
    `  ${'help [<command>]'.padEnd(width)}  this text, or more about one command (also: <command> --help)`,
    '',
    'Configuration comes from the environment and a .env file in the working directory, as for the server',
    '(DATABASE_URL above all; see the README). Exit codes: 0 done, 1 failed, 2 bad command line, 78 bad configuration.',
  ].join('\n');
}

export function commandUsage(command: Command): string {
  return [`Usage: pulse-auth ${command.synopsis}`, '', command.summary, '', command.description].join('\n');
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Runs one command line (without `node` and the script) and returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const about = name === 'help' && rest[0] !== undefined ? commands.find((command) => command.name === rest[0]) : undefined;
    if (name === 'help' && rest[0] !== undefined && !about) {
      io.err(`pulse-auth: unknown command "${rest[0]}"\n\n${usage()}`);
      return EXIT.usage;
    }
    io.out(about ? commandUsage(about) : usage());
    return EXIT.ok;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    io.err(`pulse-auth: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }

  let configErrorClass: (new (...args: never[]) => Error) | undefined;
  try {
    const parsed = parseCommandLine(command, rest);
    if (parsed.values.help) {
      io.out(commandUsage(command));
      return EXIT.ok;
    }
    // The configuration module (and, in each command, the rest of the application) loads only when a command runs.
    const { ConfigError, loadConfig } = await import('../config/load.js');
    configErrorClass = ConfigError;
    const env = cliEnvironment();
    let config: Config | undefined;
    const context: CommandContext = {
      positionals: parsed.positionals,
      values: parsed.values,
      env,
      out: io.out,
      err: io.err,
      config: () => (config ??= loadConfig(env)),
    };
    // Configuration errors surface before anything else happens.
    context.config();
    await command.run(context);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`pulse-auth ${command.name}: ${error.message}\n\n${error.usage}`);
      return EXIT.usage;
    }
    if (configErrorClass && error instanceof configErrorClass) {
      io.err(error.message);
      return EXIT.config;
    }
    if (error instanceof CliError) {
      io.err(`pulse-auth ${command.name}: ${error.message}`);
      return EXIT.failed;
    }
    io.err(`pulse-auth ${command.name} failed: ${describe(error)}`);
    return EXIT.failed;
  }
}

function parseCommandLine(command: Command, args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message, commandUsage(command));
  }
  if (parsed.values.help) return parsed;
  const count = parsed.positionals.length;
  if (count < command.positionals.min) {
    const missing = command.synopsis.match(/<[^>]+>/g)?.[count] ?? 'an argument';
    throw new UsageError(`missing ${missing}`, commandUsage(command));
  }
  if (count > command.positionals.max) throw new UsageError(`unexpected argument "${parsed.positionals[command.positionals.max]}"`, commandUsage(command));
  return parsed;
}

/** The message of an unexpected error, with its cause (a driver error often hides the useful part there). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error && !error.message.includes(error.cause.message) ? ` (${error.cause.message})` : '';
  const message = error.message || (error as NodeJS.ErrnoException).code || error.name;
  return `${message}${cause}`;
}
