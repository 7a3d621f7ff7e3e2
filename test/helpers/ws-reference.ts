/**
 * A reference model of what a relaying WebSocket server must do with the bytes a
 * client sends (RFC 6455 §5, §7, §8), for the fuzz suite's oracle: given a client's
 * byte stream (possibly broken anywhere) and the message-size limit, which messages
 * the echo upstream answers, which pings are answered, and how the connection ends.
 *
 * Written from the RFC (and RFC 3629 for UTF-8, utf8-reference.ts), with no code
 * shared with src/relay/, so that the fuzz suite checks the gateway rather than
 * agreeing with it. The one thing it takes from the gateway's documentation is the
 * precedence among faults found in the same frame header: every header fault is
 * 1002 except a message over the limit (1009), which is checked last; and text is
 * failed (1007) at the first byte no valid string can continue with (fail fast).
 */
import { isCompleteUtf8, viablePrefix } from './utf8-reference.js';

export interface Echo {
  readonly binary: boolean;
  readonly payload: Buffer;
}

export type Ending =
  /** The client broke the protocol: the connection is failed with this code. */
  | { readonly kind: 'fault'; readonly code: 1002 | 1007 | 1009 }
  /** A valid close frame: the upstream answers it with the same code and reason (`code` undefined: no code). */
  | { readonly kind: 'close'; readonly code: number | undefined; readonly reason: Buffer }
  /** The stream ended (FIN) between frames, or inside a header or a control frame: 1001 end to end. */
  | { readonly kind: 'fin' }
  /** The stream ended inside a data frame: it can never be finished; 1001 from the gateway, the upstream is cut. */
  | { readonly kind: 'fin-mid-frame' };

export interface Expected {
  /** The complete messages, in order: what the echo upstream sends back. */
  readonly messages: Echo[];
  /** Ping payloads, in order: each is answered with a pong. */
  readonly pings: Buffer[];
  readonly ending: Ending;
}

/** Close codes an endpoint may send (RFC 6455 §7.4.1, §7.4.2; the IANA registry to 1014). */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** What must come of a client sending `stream` and then FIN, with messages limited to `maxMessageBytes`. */
export function expectedOutcome(stream: Buffer, maxMessageBytes: number): Expected {
  const messages: Echo[] = [];
  const pings: Buffer[] = [];
  const done = (ending: Ending): Expected => ({ messages, pings, ending });
  let at = 0;
  /** The message in progress: its opcode (1 text, 2 binary) and its bytes so far. */
  let msgOpcode = 0;
  let msg: Buffer[] = [];
  let msgBytes = 0;
  for (;;) {
    if (stream.length - at < 2) return done({ kind: 'fin' });
    const b0 = stream[at]!;
    const b1 = stream[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >> 4) & 7;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const hlen = 2 + extra + (masked ? 4 : 0);
    if (stream.length - at < hlen) return done({ kind: 'fin' });
    let length: bigint;
    if (len7 === 126) length = BigInt(stream.readUInt16BE(at + 2));
    else if (len7 === 127) length = stream.readBigUInt64BE(at + 2);
    else length = BigInt(len7);
    const control = opcode >= 8;
    // §5.2: the 64-bit length's top bit must be 0; no RSV without an extension; clients mask.
    if (length >= 1n << 63n || rsv !== 0 || !masked) return done({ kind: 'fault', code: 1002 });
    if (control) {
      // §5.5: known control opcodes only, never fragmented, at most 125 bytes.
      if ((opcode !== 8 && opcode !== 9 && opcode !== 10) || !fin || length > 125n) return done({ kind: 'fault', code: 1002 });
    } else if (opcode === 0) {
      if (msgOpcode === 0) return done({ kind: 'fault', code: 1002 }); // §5.4: nothing to continue
    } else if (opcode === 1 || opcode === 2) {
      if (msgOpcode !== 0) return done({ kind: 'fault', code: 1002 }); // §5.4: a new message inside one
    } else {
      return done({ kind: 'fault', code: 1002 }); // §5.2: reserved opcode
    }
    if (!control && BigInt(msgBytes) + length > BigInt(maxMessageBytes)) return done({ kind: 'fault', code: 1009 }); // §7.4.1
    const key = stream.subarray(at + hlen - 4, at + hlen);
    const n = Number(length);
    const start = at + hlen;
    const have = Math.min(n, stream.length - start);
    const payload = Buffer.from(stream.subarray(start, start + have));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    if (control) {
      if (have < n) return done({ kind: 'fin' });
      at = start + n;
      if (opcode === 9) pings.push(payload);
      else if (opcode === 8) {
        if (n === 0) return done({ kind: 'close', code: undefined, reason: Buffer.alloc(0) });
        if (n === 1) return done({ kind: 'fault', code: 1002 }); // §5.5.1
        const code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) return done({ kind: 'fault', code: 1002 });
        const reason = payload.subarray(2);
        if (!isCompleteUtf8(reason)) return done({ kind: 'fault', code: 1007 }); // §5.5.1, §8.1
        return done({ kind: 'close', code, reason });
      }
      continue;
    }
    if (opcode !== 0) msgOpcode = opcode;
    msg.push(payload);
    msgBytes += have;
    if (msgOpcode === 1) {
      const text = Buffer.concat(msg);
      // §8.1, fail fast: as soon as the bytes so far cannot begin valid UTF-8.
      if (viablePrefix(text) < text.length) return done({ kind: 'fault', code: 1007 });
      if (have === n && fin && !isCompleteUtf8(text)) return done({ kind: 'fault', code: 1007 });
    }
    if (have < n) return done({ kind: 'fin-mid-frame' });
    at = start + n;
    if (fin) {
      messages.push({ binary: msgOpcode === 2, payload: Buffer.concat(msg) });
      msgOpcode = 0;
      msg = [];
      msgBytes = 0;
    }
  }
}
