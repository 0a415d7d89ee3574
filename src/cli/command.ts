import type { ParseArgsConfig } from 'node:util';
import type { CommandContext } from './context.js';

/** One `pulse-auth <command>`. */
export interface Command {
  name: string;
  /** `create-admin <email> [--password-stdin]` */
  synopsis: string;
  /** One line for the command list. */
  summary: string;
  /** What `pulse-auth help <command>` adds below the synopsis. */
  description: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** How many positional arguments it takes. */
  positionals: { min: number; max: number };
  run(context: CommandContext): Promise<void>;
}
