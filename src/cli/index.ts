/**
 * `pulse-auth <command>`: the operator's command line (`npx pulse-auth`, `npm run cli -- <command>`). Each command
 * lives in its own module under ./commands; `pulse-auth help` lists them.
 */
import { pathToFileURL } from 'node:url';
import { runCli } from './run.js';

/** Runs the command line and ends the process with its exit code once stdout and stderr are written. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv);
  process.exitCode = code;
  // Everything the command opened is closed by now; should a stray handle (a driver's timer) stay open, it must not
  // keep the process alive.
  setTimeout(() => process.exit(code), 2_000).unref();
}

const isMain = process.argv[1] !== undefined && (import.meta.url === pathToFileURL(process.argv[1]).href || process.argv[1].endsWith('/src/cli/index.ts'));
if (isMain) await main();
