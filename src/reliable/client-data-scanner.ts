/**
 * The fast way to read a client DATA envelope: straight from the frame's bytes, with
 * no string of the whole envelope, no JSON.parse and no object per message. It
 * takes what a client normally sends — a flat JSON object of the DATA fields
 * (docs/protocol.md §3.2), in any order, with optional whitespace, string values
 * without escapes, integers written plainly — and only when it is valid: a DATA
 * the gateway will take, whose `data` is then decoded from the bytes
 * (strict-base64.ts `decodeBase64BytesInto`).
 *
 * Anything else (another type, an escape, a nested value, a fraction or exponent, a
 * repeated field, a field that fails its check) is not an answer here: `scan`
 * returns false and the envelope takes envelope-codec.ts' `parseClientEnvelope`,
 * which names the NACK. So the two can never disagree on what they both read
 * (test/reliable/client-data-scanner.test.ts checks it on generated envelopes).
 *
 * One scanner serves a process's sessions: `scan` fills its fields, which are read
 * at once, before the next scan.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;

const enum Field {
  Type = 1,
  MessageId = 2,
  Data = 4,
  Binary = 8,
  Ack = 16,
  Timestamp = 32,
  ClientId = 64,
  Other = 0,
}

/** The longest integer read as a number here (so that it is a safe integer). */
const MAX_SAFE_DIGITS = 15;
/** A timestamp's digits are checked, never read as a number (nanoseconds exceed 2^53). */
const MAX_TIMESTAMP_DIGITS = 20;
const MAX_MESSAGE_ID = 128;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** A messageId character: printable ASCII without `"` and `\`. */
function isIdChar(c: number): boolean {
  return c >= 0x21 && c <= 0x7e && c !== QUOTE && c !== BACKSLASH;
}

/** Bytes that end or spoil a plain string (1): the quote, a backslash, control characters; and for ASCII strings, the rest. */
const STOPS = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STOPS[c] = 1;
STOPS[QUOTE] = 1;
STOPS[BACKSLASH] = 1;
const STOPS_ASCII = STOPS.slice();
for (let c = 0x7f; c < 0x100; c++) STOPS_ASCII[c] = 1;

export class ClientDataScanner {
  messageId = '';
  binary = false;
  /** The cumulative ACK carried (`ack`), -1 without one. */
  ack = -1;
  /** The base64 characters of `data`: the scanned buffer's [dataStart, dataEnd). */
  dataStart = 0;
  dataEnd = 0;

  #raw: Buffer = Buffer.alloc(0);
  #at = 0;
  #end = 0;

  /** Reads `raw` (a text frame's UTF-8 payload) as a DATA the gateway takes; false: read it with parseClientEnvelope. */
  scan(raw: Buffer, clientId: string): boolean {
    this.#raw = raw;
    this.#at = 0;
    this.#end = raw.length;
    this.ack = -1;
    this.binary = false;
    this.#skipWhitespace();
    if (this.#next() !== OPEN) return false;
    let seen = 0;
    for (;;) {
      this.#skipWhitespace();
      const field = this.#key();
      if (field < 0) return false;
      if (field !== Field.Other && (seen & field) !== 0) return false; // a repeated field: JSON.parse keeps the last
      seen |= field;
      this.#skipWhitespace();
      if (this.#next() !== COLON) return false;
      this.#skipWhitespace();
      if (!this.#value(field, clientId)) return false;
      this.#skipWhitespace();
      const c = this.#next();
      if (c === CLOSE) break;
      if (c !== COMMA) return false;
    }
    this.#skipWhitespace();
    const required = Field.Type | Field.MessageId | Field.Data;
    return this.#at === this.#end && (seen & required) === required;
  }

  #next(): number {
    return this.#at < this.#end ? this.#raw[this.#at++]! : -1;
  }

  #skipWhitespace(): void {
    while (this.#at < this.#end && isWhitespace(this.#raw[this.#at]!)) this.#at++;
  }

  /**
   * The characters of a string without escapes, after its opening quote: [start, end)
   * with the closing quote consumed, or -1. `ascii`: printable ASCII only.
   */
  #stringEnd(ascii: boolean): number {
    const raw = this.#raw;
    if (this.#next() !== QUOTE) return -1;
    const stop = ascii ? STOPS_ASCII : STOPS;
    for (let i = this.#at; i < this.#end; i++) {
      const c = raw[i]!;
      if (stop[c] === 0) continue;
      if (c !== QUOTE) return -1;
      this.#at = i + 1;
      return i;
    }
    return -1;
  }

  /** The field a key names (Other for one not read here), or -1. */
  #key(): number {
    const start = this.#at + 1;
    const end = this.#stringEnd(true);
    if (end < 0) return -1;
    switch (end - start) {
      case 3:
        return this.#is(start, 'ack') ? Field.Ack : Field.Other;
      case 4:
        return this.#is(start, 'type') ? Field.Type : this.#is(start, 'data') ? Field.Data : Field.Other;
      case 6:
        return this.#is(start, 'binary') ? Field.Binary : Field.Other;
      case 8:
        return this.#is(start, 'clientId') ? Field.ClientId : Field.Other;
      case 9:
        return this.#is(start, 'messageId') ? Field.MessageId : this.#is(start, 'timestamp') ? Field.Timestamp : Field.Other;
      default:
        return Field.Other;
    }
  }

  /** Whether the bytes at `start` are the ASCII `word` (the caller knows there are enough). */
  #is(start: number, word: string): boolean {
    const raw = this.#raw;
    for (let i = 0; i < word.length; i++) if (raw[start + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** Reads and checks the value of `field`; false: not for this scanner. */
  #value(field: number, clientId: string): boolean {
    switch (field) {
      case Field.Type:
        return this.#integer(MAX_SAFE_DIGITS) === 0;
      case Field.Ack:
        this.ack = this.#integer(MAX_SAFE_DIGITS);
        return this.ack >= 0;
      case Field.Timestamp:
        return this.#integer(MAX_TIMESTAMP_DIGITS) !== -1;
      case Field.MessageId:
        return this.#messageId();
      case Field.Data: {
        this.dataStart = this.#at + 1;
        this.dataEnd = this.#stringEnd(true);
        return this.dataEnd >= 0;
      }
      case Field.Binary:
        return this.#boolean();
      case Field.ClientId: {
        const start = this.#at + 1;
        const end = this.#stringEnd(true);
        return end >= 0 && end - start === clientId.length && this.#is(start, clientId);
      }
      default:
        return this.#skipValue();
    }
  }

  #messageId(): boolean {
    const raw = this.#raw;
    const start = this.#at + 1;
    const end = this.#stringEnd(true);
    if (end <= start || end - start > MAX_MESSAGE_ID) return false;
    for (let i = start; i < end; i++) if (!isIdChar(raw[i]!)) return false;
    this.messageId = raw.toString('latin1', start, end);
    return true;
  }

  /**
   * A JSON integer ≥ 0 of at most `maxDigits` digits, as JSON writes it (no leading
   * zero, no sign, fraction or exponent): its value (exact below 2^53, which is all
   * that is asked of more than 15 digits: that it is one), or -1.
   */
  #integer(maxDigits: number): number {
    const raw = this.#raw;
    const start = this.#at;
    let v = 0;
    let i = start;
    for (; i < this.#end; i++) {
      const c = raw[i]!;
      if (c < ZERO || c > NINE) break;
      v = v * 10 + (c - ZERO);
    }
    const digits = i - start;
    if (digits === 0 || digits > maxDigits || (digits > 1 && raw[start] === ZERO)) return -1;
    // What follows must end the number (else it is a fraction, an exponent or not JSON).
    if (i < this.#end) {
      const c = raw[i]!;
      if (c !== COMMA && c !== CLOSE && !isWhitespace(c)) return -1;
    }
    this.#at = i;
    return v;
  }

  #boolean(): boolean {
    if (this.#literal('true')) {
      this.binary = true;
      return true;
    }
    return this.#literal('false');
  }

  #literal(word: string): boolean {
    if (this.#at + word.length > this.#end || !this.#is(this.#at, word)) return false;
    this.#at += word.length;
    return true;
  }

  /** A field not read here: skipped when its value is a plain string, integer, true, false or null. */
  #skipValue(): boolean {
    const c = this.#raw[this.#at];
    if (c === QUOTE) return this.#stringEnd(false) >= 0;
    if (c !== undefined && c >= ZERO && c <= NINE) return this.#integer(MAX_TIMESTAMP_DIGITS) !== -1;
    return this.#literal('true') || this.#literal('false') || this.#literal('null');
  }
}
