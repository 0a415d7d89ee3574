import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port of 127.0.0.1 that nothing listens on at the moment. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A Prism validating proxy (`prism proxy --errors`, from the spec-tools cache: scripts/spec-tool.sh) in front of
 * `upstream`: a request or an answer that breaks the spec is refused with an error instead of passed on, and logged.
 * `violations()` lists every such line of Prism's log (and `sl-violations` is a header Prism adds when it only warns).
 */
export class PrismProxy {
  log = '';
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk) => (this.log += chunk));
    child.stderr!.on('data', (chunk) => (this.log += chunk));
  }

  static async start(spec: string, upstream: string, port?: number): Promise<PrismProxy> {
    port ??= await freePort();
    const child = spawn(
      `${ROOT}scripts/spec-tool.sh`,
      ['prism', 'proxy', spec, upstream, '--port', String(port), '--host', '127.0.0.1', '--errors', '--no-cors'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const proxy = new PrismProxy(`http://127.0.0.1:${port}`, child);
    for (let tries = 0; tries < 1200; tries++) {
      if (child.exitCode !== null) throw new Error(`prism exited: ${proxy.log}`);
      const answer = await fetch(`${proxy.url}/health`).catch(() => undefined);
      if (answer?.status === 200) return proxy;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await proxy.stop();
    throw new Error(`prism did not start within 2 minutes: ${proxy.log}`);
  }

  /** Prism's log lines about requests or answers that break the spec. */
  violations(): string[] {
    return this.log.split('\n').filter((line) => /violation|terminated with error/i.test(line));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
