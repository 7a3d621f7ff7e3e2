/**
 * A `stratix.v1` connection before its HELLO: the client leg (whole-message mode)
 * belongs to the gate until the first envelope, which must be a HELLO within
 * reliable.helloTimeoutMs (else close 4400). The host then starts or resumes the
 * session and the leg changes hands.
 */
import { CloseCode } from '../protocol/close-codes.js';
import { Leg, LegKind, type LegOwner } from '../relay/leg.js';
import type { Socket } from 'node:net';
import { EnvelopeType, maxEnvelopeBytes, parseClientEnvelope, type HelloEnvelope } from './envelope-codec.js';

export interface HelloHost {
  readonly relay: { readonly maxMessageBytes: number; readonly highWaterMarkBytes: number };
  /** The HELLO arrived: hand `gate.leg` to a session. */
  hello(gate: HelloGate, hello: HelloEnvelope): void;
  /** The connection ended before (or without) a HELLO. */
  helloGone(gate: HelloGate): void;
}

export class HelloGate implements LegOwner {
  readonly host: HelloHost;
  readonly clientId: string;
  readonly target: string;
  /** Forwarding headers for the upstream (captured from the upgrade request), if configured. */
  readonly forwarded: Readonly<Record<string, string>> | undefined;
  readonly leg: Leg;
  #done = false;

  constructor(host: HelloHost, socket: Socket, clientId: string, target: string, forwarded: Readonly<Record<string, string>> | undefined) {
    this.host = host;
    this.clientId = clientId;
    this.target = target;
    this.forwarded = forwarded;
    this.leg = new Leg(this, socket, LegKind.Client, true);
  }

  /** The HELLO did not come in time. */
  timeout(ms: number): void {
    this.#refuse(`no HELLO within ${ms} ms`);
  }

  #refuse(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.leg.close(CloseCode.BAD_REQUEST.code, reason);
    this.host.helloGone(this);
  }

  #gone(): void {
    if (this.#done) return;
    this.#done = true;
    this.host.helloGone(this);
  }

  legMessageData(leg: Leg, payload: Buffer, binary: boolean): void {
    if (this.#done) return;
    if (binary) {
      this.#done = true;
      leg.close(CloseCode.UNSUPPORTED_DATA.code, 'stratix.v1 frames are JSON text');
      this.host.helloGone(this);
      return;
    }
    const e = parseClientEnvelope(payload, this.clientId);
    if (e.type !== EnvelopeType.Hello) {
      this.#refuse(e.type === -2 ? e.reason : 'the first envelope must be a HELLO');
      return;
    }
    this.#done = true;
    this.host.hello(this, e);
  }

  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void {
    leg.close(code, reason);
    this.#gone();
  }

  legFault(): void {
    this.#gone();
  }

  legEnded(leg: Leg): void {
    leg.close(CloseCode.GOING_AWAY.code, 'client went away');
    this.#gone();
  }

  legGone(): void {
    this.#gone();
  }

  legDrained(): void {}

  legControlDropped(leg: Leg): void {
    leg.terminate(); // a ping flood before even saying HELLO
  }

  messageLimit(): number {
    return maxEnvelopeBytes(this.host.relay.maxMessageBytes);
  }

  controlBufferLimit(): number {
    return this.host.relay.highWaterMarkBytes;
  }

  legData(): void {
    throw new Error('a HELLO gate reads messages, not frames');
  }

  legMessage(): void {
    throw new Error('a HELLO gate reads messages, not frames');
  }
}
