/**
 * An HTTP/2 (h2c) proxy on a free loopback port in front of a real gRPC server (etcd),
 * that holds each call of a chosen method for a while before passing it on: an etcd
 * slow to answer some requests and quick to answer others (a big prefix on a busy
 * server makes a range slow while a status request stays quick). Every call is passed
 * on whole, headers, messages and trailers, in both directions; streams (watches)
 * too. `calls` records each call's method path, in the order they arrived.
 */
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** How long to hold a call of `path` (e.g. "/etcdserverpb.KV/Range") before passing it on; 0: at once. */
export type CallDelay = (path: string) => number;

const END_STREAM = http2.constants.NGHTTP2_FLAG_END_STREAM;

export class GrpcDelayProxy {
  readonly calls: string[] = [];
  readonly #server: Http2Server;
  readonly #upstream: ClientHttp2Session;
  readonly #delay: CallDelay;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  private constructor(server: Http2Server, upstream: ClientHttp2Session, delay: CallDelay) {
    this.#server = server;
    this.#upstream = upstream;
    this.#delay = delay;
    upstream.on('error', () => undefined);
    server.on('stream', (stream, headers) => this.#onCall(stream, headers));
    server.on('sessionError', () => undefined);
    server.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
    });
  }

  static async start(targetPort: number, delay: CallDelay): Promise<GrpcDelayProxy> {
    const upstream = http2.connect(`http://127.0.0.1:${targetPort}`);
    await once(upstream, 'connect');
    const server = http2.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new GrpcDelayProxy(server, upstream, delay);
  }

  /** The endpoint to give an etcd client. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #onCall(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[':path']);
    this.calls.push(path);
    stream.on('error', () => undefined);
    stream.pause();
    const ms = this.#delay(path);
    if (ms <= 0) {
      this.#forward(stream, headers);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!stream.destroyed) this.#forward(stream, headers);
    }, ms);
    this.#timers.add(timer);
  }

  #forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const out: Record<string, string | string[]> = { ':method': String(headers[':method']), ':path': String(headers[':path']) };
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') && v !== undefined) out[k] = v;
    const up = this.#upstream.request(out);
    up.on('error', () => undefined);
    let trailers: IncomingHttpHeaders = {};
    up.on('response', (h, flags) => {
      if (stream.destroyed) return;
      const end = (flags & END_STREAM) !== 0;
      stream.respond(withoutPseudo(h, true), end ? { endStream: true } : { waitForTrailers: true });
    });
    up.on('trailers', (t) => (trailers = t));
    stream.on('wantTrailers', () => stream.sendTrailers(withoutPseudo(trailers, false)));
    stream.pipe(up);
    up.pipe(stream);
    stream.on('close', () => {
      if (!up.closed) up.close(stream.rstCode ?? http2.constants.NGHTTP2_CANCEL);
    });
    up.on('close', () => {
      if (!stream.closed && up.rstCode !== undefined && up.rstCode !== http2.constants.NGHTTP2_NO_ERROR) stream.close(up.rstCode);
    });
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#upstream.destroy();
    for (const session of this.#sessions) session.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The headers without the pseudo-headers, except `:status` when `status` is set. */
function withoutPseudo(h: IncomingHttpHeaders, status: boolean): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || (k.startsWith(':') && !(status && k === ':status'))) continue;
    out[k] = v;
  }
  return out;
}
