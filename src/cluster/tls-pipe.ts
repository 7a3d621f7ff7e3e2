/**
 * How a wss:// client reaches its worker. The primary must read the request head
 * to pick the worker, so it terminates TLS; a TLS session cannot move to another
 * process, so the primary keeps it and relays the plaintext over a local pipe whose
 * far end is an ordinary socket handed to the worker like any other. The worker
 * sees a plain connection (with the real peer address passed alongside).
 *
 * The pipe: the primary listens on a Unix socket in a private directory (mode 0700),
 * connects to it once per client, and writes a random 16-byte token; the accepted
 * end that reads that token is the one to hand over. Nothing else is written until
 * the hand-over, so no byte is read by the primary on the worker's end.
 *
 * Cost: the primary does all TLS work of the instance on one core, and each TLS
 * client holds two descriptors there. docs/security.md gives the measured CPU per
 * round trip; nginx in front is the recommended termination for volume.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopReading } from './held-reads.js';

const TOKEN_BYTES = 16;
/** A pipe end that does not identify itself within this time is dropped. */
const PAIR_TIMEOUT_MS = 5_000;
/** After one side ended, the other gets this long to flush before it is cut. */
const LINGER_MS = 5_000;

interface Waiting {
  resolve(end: Socket): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class TlsPipe {
  readonly #server: Server;
  readonly #dir: string;
  readonly #path: string;
  readonly #waiting = new Map<string, Waiting>();

  private constructor(server: Server, dir: string, path: string) {
    this.#server = server;
    this.#dir = dir;
    this.#path = path;
  }

  static async start(): Promise<TlsPipe> {
    const dir = mkdtempSync(join(tmpdir(), 'stratix-tls-'));
    const path = join(dir, 'pipe.sock');
    const server = createServer({ allowHalfOpen: false });
    const pipe = new TlsPipe(server, dir, path);
    server.on('connection', (s) => pipe.#identify(s));
    server.listen(path);
    await once(server, 'listening');
    return pipe;
  }

  /** Pipes ends waiting to be paired. */
  get pending(): number {
    return this.#waiting.size;
  }

  /**
   * Opens a pipe: resolves with `near` (the primary's end, to relay `tls` into) and
   * `far` (the end to hand to the worker, not read from).
   */
  open(): Promise<{ near: Socket; far: Socket }> {
    const token = randomBytes(TOKEN_BYTES).toString('hex');
    const near = connect(this.#path);
    near.on('error', noop);
    const far = new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(token);
        reject(new Error('TLS pipe: the far end did not pair'));
      }, PAIR_TIMEOUT_MS);
      this.#waiting.set(token, { resolve, reject, timer });
    });
    near.write(Buffer.from(token, 'hex'));
    return far.then(
      (f) => ({ near, far: f }),
      (err: Error) => {
        near.destroy();
        throw err;
      },
    );
  }

  /** Relays `tls` ↔ `near` until either ends; each end is cut when the other is gone. */
  static relay(tls: Socket, near: Socket): void {
    tls.on('error', noop);
    tls.pipe(near);
    near.pipe(tls);
    tls.once('close', () => near.destroy());
    near.once('close', () => {
      tls.end();
      setTimeout(() => tls.destroy(), LINGER_MS).unref();
    });
  }

  close(): void {
    this.#server.close();
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('TLS pipe closed'));
    }
    this.#waiting.clear();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #identify(s: Socket): void {
    s.on('error', noop);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(), PAIR_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < TOKEN_BYTES) return;
      s.removeListener('data', onData);
      clearTimeout(timer);
      stopReading(s);
      const w = got.length === TOKEN_BYTES ? this.#waiting.get(got.toString('hex')) : undefined;
      if (w === undefined) {
        s.destroy();
        return;
      }
      this.#waiting.delete(got.toString('hex'));
      clearTimeout(w.timer);
      w.resolve(s);
    };
    s.on('data', onData);
  }
}

function noop(): void {}
