/**
 * Real Pulse Auth processes for the tests that need more than one app in one process can give: `node --import tsx
 * src/server.ts` (signals, exit codes, several instances on one database) and the `pulse-auth` command line.
 * Children run in a temporary working directory (so that no local `.env` leaks in) with only the environment given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const serverScript = join(repoRoot, 'src/server.ts');
/** The command line's entry points: the module itself, the `bin` of the package, and `npm run migrate`'s script. */
const cliEntries = {
  module: ['--import', '<tsx>', join(repoRoot, 'src/cli/index.ts')],
  bin: [join(repoRoot, 'bin/pulse-auth.mjs')],
  migrateScript: ['--import', '<tsx>', join(repoRoot, 'src/cli/migrate.ts')],
};
/** `--import` resolves against the working directory, which is not the repository: give tsx by its file URL. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export const temporaryDirectory = (prefix = 'pulse-auth-proc-') => mkdtempSync(join(tmpdir(), prefix));

/** The working directory of every child: empty, so that no `.env` is found and relative paths land somewhere harmless. */
let childCwd: string | undefined;
const childDirectory = () => (childCwd ??= temporaryDirectory('pulse-auth-cwd-'));

/** The little of the parent's environment a child needs; everything else comes from `env`. */
function childEnvironment(env: Record<string, string>): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG'];
  return { ...Object.fromEntries(keep.filter((key) => process.env[key] !== undefined).map((key) => [key, process.env[key]!])), ...env };
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** What the process wrote to stdout and stderr so far. */
  output(): string;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal and waits for the exit; kills the process when it is not gone within `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `src/server.ts` on 127.0.0.1 and a free port, and waits until `/health` answers. */
export async function startServerProcess(env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', tsxLoader, serverScript], {
    cwd: childDirectory(),
    env: childEnvironment({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    child,
    port,
    baseUrl,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`the server exited before it was ready:\n${output}`);
    if ((await healthStatus(port)) === 200) return server;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /health in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** GET /health on a connection of its own (no keep-alive left behind); 0 when nothing answers. */
function healthStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 2_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pulse-auth <args>` to its end; `stdin`, when given, is written to it and closed. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  options: { stdin?: string; timeoutMs?: number; entry?: keyof typeof cliEntries } = {},
): Promise<CliResult> {
  const entry = cliEntries[options.entry ?? 'module'].map((arg) => (arg === '<tsx>' ? tsxLoader : arg));
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: childDirectory(),
    env: childEnvironment(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // A command that exits without reading its stdin must not crash the test with EPIPE.
  child.stdin.on('error', () => {});
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
