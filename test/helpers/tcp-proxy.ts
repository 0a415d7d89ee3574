import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';

/**
 * A TCP proxy on 127.0.0.1 in front of a shared service (PostgreSQL, Redis) that the tests must not stop:
 * `stop()` destroys every proxied connection and refuses new ones (the port stays bound, so nobody else can take
 * it, and a client sees what it sees when the service is down: its connection reset, then refused);
 * `start()` accepts again.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<Socket>();
  private server?: Server;
  private mode: 'up' | 'reset' | 'hang' = 'up';
  /** Connections accepted and forwarded since the proxy started. */
  forwarded = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy in front of the host and port of `url`. */
  static forUrl(url: string, defaultPort: number): TcpProxy {
    const target = new URL(url);
    return new TcpProxy(target.hostname, Number(target.port || defaultPort));
  }

  async listen(): Promise<this> {
    this.server = createServer({ pauseOnConnect: true }, (client) => this.accept(client));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /**
   * The service "goes down": every open connection is cut. New ones are reset as soon as they arrive (`reset`: a
   * stopped server), or accepted and never answered (`hang`: a server or network that swallows packets).
   */
  stop(mode: 'reset' | 'hang' = 'reset'): void {
    this.mode = mode;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  start(): void {
    this.mode = 'up';
    for (const socket of this.held) socket.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.stop();
    for (const socket of this.held) socket.destroy();
    if (!this.server) return;
    await new Promise((resolve) => this.server!.close(resolve));
  }

  private accept(client: Socket) {
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'hang') {
      this.held.add(client);
      client.on('error', () => {}).on('close', () => this.held.delete(client));
      return;
    }
    this.forwarded += 1;
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.once('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
