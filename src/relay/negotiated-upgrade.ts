/**
 * A client upgrade that offers subprotocols (and not `stratix.v1`): the subprotocol
 * is negotiated end to end, as nginx does. The upstream is opened first, offered
 * what the client offered; the client's upgrade is answered once the upstream has
 * answered, with the upstream's choice (or none). If the upstream fails, the client
 * gets an HTTP status instead of a 101:
 * - refused, unreachable, or an invalid 101 → 502 STRATIX_ERR_UPSTREAM_FAILED;
 * - no answer within upstream.connectTimeoutMs → 504 STRATIX_ERR_UPSTREAM_TIMEOUT;
 * - the upstream's own HTTP refusal → its status, STRATIX_ERR_UPSTREAM_REJECTED.
 * Clients that offer no subprotocol keep the accept-first path (session.ts).
 *
 * While it waits, the client socket is held unread (a client sends nothing before
 * its 101); if it closes, the upstream attempt is abandoned. The connect waits for
 * its turn in the per-upstream pacing (admission.upstream) like any other: the host
 * calls `connectTurn` (at once, or when the turn comes); the wait counts against
 * upstream.connectTimeoutMs (then 504).
 */
import type { Socket } from 'node:net';
import { handshakeError, type HandshakeError, type UpstreamError } from '../errors.js';
import type { ConnectTimed } from './session.js';
import { UpstreamConnect, type UpstreamConnectOwner, type UpstreamRequest } from './upstream-connect.js';

/** The gateway side of a negotiation. */
export interface NegotiationHost {
  readonly connecting: Map<ConnectTimed, number>;
  readonly settings: { readonly connectTimeoutMs: number };
  /** The upstream is open: answer the client's upgrade with `protocol` and relay. */
  negotiated(n: NegotiatedUpgrade, upstream: Socket, head: Buffer, protocol: string | undefined): void;
  /** The upstream failed: refuse the client with `refusal` (`failure`: why, for metrics). */
  negotiationFailed(n: NegotiatedUpgrade, refusal: HandshakeError, failure: UpstreamError | undefined): void;
  /** The client left first; the upstream attempt is dropped. */
  negotiationAbandoned(n: NegotiatedUpgrade): void;
}

const kNegotiation = Symbol('stratix.negotiation');
type Tagged = Socket & { [kNegotiation]?: NegotiatedUpgrade };

export class NegotiatedUpgrade implements UpstreamConnectOwner, ConnectTimed {
  readonly host: NegotiationHost;
  readonly client: Socket;
  /** The upstream URL (the per-upstream pacing's key). */
  readonly target: string;
  /** Bytes read from the client after its request head (normally none; bounded). */
  clientHead: Buffer;
  readonly startedAt: number;
  /** Until its turn: the request to open; then the connect in progress; null once settled. */
  #request: UpstreamRequest | null;
  #connect: UpstreamConnect | null = null;

  constructor(host: NegotiationHost, client: Socket, clientHead: Buffer, request: UpstreamRequest) {
    this.host = host;
    this.client = client;
    this.target = request.url;
    this.clientHead = clientHead;
    this.#request = request;
    this.startedAt = performance.now();
    (client as Tagged)[kNegotiation] = this;
    // Read while waiting, so that a client that leaves is noticed (and the bytes kept for the relay).
    client.on('data', onClientData);
    client.on('end', onClientClose); // http sockets are half-open: a FIN alone does not close them
    client.on('close', onClientClose);
    client.on('error', noop);
    host.connecting.set(this, this.startedAt);
  }

  /** Waiting for its turn or connecting. */
  get pending(): boolean {
    return this.#request !== null || this.#connect !== null;
  }

  /** Its turn in the per-upstream pacing came: open the upstream. */
  connectTurn(): void {
    const request = this.#request;
    if (request === null) return;
    this.#request = null;
    this.#connect = new UpstreamConnect(this, request);
  }

  /** It waited upstream.connectTimeoutMs without a turn. */
  connectQueueTimedOut(): void {
    this.checkConnectTimeout(Number.POSITIVE_INFINITY, 0);
  }

  checkConnectTimeout(now: number, since: number): void {
    const timeout = this.host.settings.connectTimeoutMs;
    if (!this.pending || now - since < timeout) return;
    this.#connect?.abort();
    this.#settle();
    this.host.negotiationFailed(this, handshakeError('UPSTREAM_TIMEOUT', `upstream did not answer the upgrade within ${timeout} ms`), undefined);
  }

  upstreamOpened(socket: Socket, head: Buffer, protocol: string | undefined): void {
    this.#settle();
    if (this.client.destroyed) {
      socket.destroy();
      return;
    }
    this.host.negotiated(this, socket, head, protocol);
  }

  upstreamFailed(failure: UpstreamError, httpStatus: number | undefined): void {
    this.#settle();
    const refusal =
      httpStatus !== undefined && httpStatus >= 400 && httpStatus <= 599
        ? handshakeError('UPSTREAM_REJECTED', `upstream answered HTTP ${httpStatus}`, {}, httpStatus)
        : handshakeError('UPSTREAM_FAILED', failure.message);
    this.host.negotiationFailed(this, refusal, failure);
  }

  /** The client left (or the gateway closes): give the upstream up. */
  abandon(): void {
    if (!this.pending) return;
    this.#connect?.abort();
    this.#settle();
    this.host.negotiationAbandoned(this);
  }

  #settle(): void {
    this.#request = null;
    this.#connect = null;
    this.host.connecting.delete(this);
    this.client.removeListener('data', onClientData);
    this.client.removeListener('end', onClientClose);
    this.client.removeListener('close', onClientClose);
    this.client.pause();
    (this.client as Tagged)[kNegotiation] = undefined;
  }
}

/** A client sends nothing before its 101; more than this before it is not a WebSocket client. */
const MAX_EARLY_BYTES = 64 * 1024;

function onClientData(this: Tagged, chunk: Buffer): void {
  const n = this[kNegotiation];
  if (n === undefined) return;
  n.clientHead = Buffer.concat([n.clientHead, chunk]);
  if (n.clientHead.length > MAX_EARLY_BYTES) this.destroy();
}

function onClientClose(this: Tagged): void {
  this[kNegotiation]?.abandon();
  this.destroy();
}

function noop(): void {}
