/**
 * Opening one upstream WebSocket: the upgrade request, its three outcomes (a 101,
 * an HTTP answer, an error) reported to an owner, and the checks on the 101. Used
 * by the verbatim Session, by the negotiated upgrade (subprotocols) and by
 * reliable sessions, which reconnect their upstream.
 *
 * The request's handlers are module-level functions that find their owner through
 * a symbol on the request: no closure per connect.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamError } from '../errors.js';
import { upstreamError } from '../errors.js';
import { classifyConnectError } from './upstream-failure.js';
import { checkUpgradeResponse, requestUpgrade, type UpstreamTlsOptions } from './websocket-handshake.js';

/** What to open: the URL, static headers, the Origin to pass (if any) and the subprotocols to offer. */
export interface UpstreamRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly origin: string | undefined;
  /** Subprotocols to offer (the client's offer, negotiated end to end); none when absent. */
  readonly protocols?: readonly string[] | undefined;
  /** For wss:// upstreams: the CA bundle, client certificate and SNI (tls.upstream). */
  readonly tls?: UpstreamTlsOptions | undefined;
}

export interface UpstreamConnectOwner {
  /** The upstream answered 101 and it checked out; `protocol` is its choice (if it made one). */
  upstreamOpened(socket: Socket, head: Buffer, protocol: string | undefined): void;
  /** The attempt failed (refused, unreachable, an HTTP answer, a bad 101). Not called after `abort`. */
  upstreamFailed(failure: UpstreamError, httpStatus: number | undefined): void;
}

const kOwner = Symbol('stratix.upstreamConnect');
type Tagged = ClientRequest & { [kOwner]?: UpstreamConnect };

/** One attempt in flight. */
export class UpstreamConnect {
  readonly #req: ClientRequest;
  readonly #accept: string;
  readonly #protocols: readonly string[] | undefined;
  #owner: UpstreamConnectOwner | null;

  constructor(owner: UpstreamConnectOwner, request: UpstreamRequest) {
    const { req, accept } = requestUpgrade(new URL(request.url), request.headers, request.origin, request.protocols, request.tls);
    this.#req = req;
    this.#accept = accept;
    this.#protocols = request.protocols;
    this.#owner = owner;
    (req as Tagged)[kOwner] = this;
    req.on('upgrade', onUpgrade);
    req.on('response', onResponse);
    req.on('error', onRequestError);
    req.end();
  }

  /** Gives up: the owner hears nothing more, and a socket that still arrives is destroyed. */
  abort(): void {
    this.#owner = null;
    this.#req.destroy();
  }

  upgraded(res: IncomingMessage, socket: Socket, head: Buffer): void {
    const owner = this.#owner;
    this.#owner = null;
    if (owner === null) {
      socket.destroy();
      return;
    }
    const checked = checkUpgradeResponse(res, this.#accept, this.#protocols);
    if (checked.problem !== undefined) {
      socket.destroy();
      owner.upstreamFailed(upstreamError('REJECTED', checked.problem), undefined);
      return;
    }
    owner.upstreamOpened(socket, head, checked.protocol);
  }

  ended(err: Error | undefined, status: number | undefined): void {
    const owner = this.#owner;
    this.#owner = null;
    if (owner === null) return;
    owner.upstreamFailed(classifyConnectError(err ?? new Error('upstream closed during handshake'), status), status);
  }
}

function onUpgrade(this: Tagged, res: IncomingMessage, socket: Socket, head: Buffer): void {
  this[kOwner]!.upgraded(res, socket, head);
}

function onResponse(this: Tagged, res: IncomingMessage): void {
  res.resume();
  this[kOwner]!.ended(undefined, res.statusCode ?? 0);
}

function onRequestError(this: Tagged, err: Error): void {
  this[kOwner]!.ended(err, undefined);
}
