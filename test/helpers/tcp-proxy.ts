/**
 * A TCP proxy on a free loopback port that can be cut and restored, to take a
 * server away from one client while the server itself keeps running (a network
 * partition). `cut()` resets every proxied connection and stops listening, so new
 * connections are refused; `restore()` listens again on the same port.
 */
import { once } from 'node:events';
import net from 'node:net';

export class TcpProxy {
  readonly #targetPort: number;
  readonly #sockets = new Set<net.Socket>();
  readonly #pipes = new Set<[net.Socket, net.Socket]>();
  /** The first line (the HTTP request line) of every connection, in order. */
  readonly requestLines: string[] = [];
  #server: net.Server | undefined;
  #port = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.restore();
    return proxy;
  }

  /** The proxy's port; stays the same across cut() and restore(). */
  get port(): number {
    return this.#port;
  }

  #pipe(client: net.Socket): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.#targetPort });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.once('data', (d: Buffer) => this.requestLines.push(d.toString('latin1').split('\r\n', 1)[0]!));
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.#pipes.add(pair);
    client.on('close', () => this.#pipes.delete(pair));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /**
   * Black-holes every open connection (nothing passes either way, nothing is closed:
   * a dead path that TCP does not notice); new connections still pass.
   */
  freeze(): void {
    for (const [client, upstream] of this.#pipes) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    this.#pipes.clear();
  }

  /** Resets every connection and stops accepting new ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = net.createServer((c) => this.#pipe(c));
    server.listen({ host: '127.0.0.1', port: this.#port });
    await once(server, 'listening');
    this.#port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
