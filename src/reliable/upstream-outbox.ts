/**
 * A session's client messages on their way to the upstream. Taken messages wait
 * for the turn's flush (their ACCEPTED record goes to the log first), are written
 * to the upstream socket together (one write: small frames are concatenated, large
 * ones go in one corked writev), and are acknowledged once
 * the socket has handed their last byte to the kernel: the socket's `writableLength`
 * tells how many of the bytes queued so far are still buffered, so no callback per
 * message is needed.
 */
import type { Socket } from 'node:net';

/** Frames of one flush up to this many bytes in all are concatenated into one write (cheaper than a writev of small buffers). */
const CONCAT_MAX = 16 * 1024;

export interface OutboxOwner {
  /** The write of `messageId` (taken on connection `generation`) completed. */
  upstreamWritten(messageId: string, generation: number): void;
}

export class UpstreamOutbox {
  /** Waiting for the flush. */
  #frames: Buffer[] = [];
  #ids: string[] = [];
  #gens: number[] = [];
  /** Written, waiting for the bytes to leave: id, generation and the queued total at the message's end. */
  #flightIds: string[] = [];
  #flightGens: number[] = [];
  #flightEnds: number[] = [];
  #flightHead = 0;
  /** Bytes queued to the socket in all. */
  #queued = 0;
  #waitingBytes = 0;

  get waiting(): number {
    return this.#frames.length;
  }

  /** Bytes of the messages waiting for the flush. */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  get inFlight(): number {
    return this.#flightIds.length - this.#flightHead;
  }

  get empty(): boolean {
    return this.#frames.length === 0 && this.inFlight === 0;
  }

  add(frame: Buffer, messageId: string, generation: number): void {
    this.#waitingBytes += frame.length;
    this.#frames.push(frame);
    this.#ids.push(messageId);
    this.#gens.push(generation);
  }

  /** Writes every waiting message to `socket` in one write. */
  write(socket: Socket): void {
    const frames = this.#frames;
    const n = frames.length;
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      this.#queued += frames[i]!.length;
      this.#flightIds.push(this.#ids[i]!);
      this.#flightGens.push(this.#gens[i]!);
      this.#flightEnds.push(this.#queued);
    }
    if (n === 1) socket.write(frames[0]!);
    else if (this.#waitingBytes <= CONCAT_MAX) socket.write(Buffer.concat(frames, this.#waitingBytes));
    else {
      socket.cork();
      for (const f of frames) socket.write(f);
      socket.uncork();
    }
    this.#waitingBytes = 0;
    // Fresh arrays rather than `length = 0` (a runtime call each), and young ones: the
    // next turn's pushes into them take the write barrier's fast path.
    this.#frames = [];
    this.#ids = [];
    this.#gens = [];
  }

  /** Completes the messages whose bytes have left (`buffered`: the socket's writableLength now). */
  complete(buffered: number, owner: OutboxOwner): void {
    const sent = this.#queued - buffered;
    let h = this.#flightHead;
    const ends = this.#flightEnds;
    while (h < ends.length && ends[h]! <= sent) {
      owner.upstreamWritten(this.#flightIds[h]!, this.#flightGens[h]!);
      h++;
    }
    if (h === ends.length) {
      if (h > 0) {
        this.#flightIds = [];
        this.#flightGens = [];
        this.#flightEnds = [];
        this.#flightHead = 0;
      }
    } else {
      this.#flightHead = h;
    }
  }

  /** The upstream is gone: calls `lost` for each message written but not completed, `unsent` for each still waiting; empties. */
  drop(lost: (id: string, generation: number) => void, unsent: (id: string, generation: number) => void): void {
    for (let h = this.#flightHead; h < this.#flightIds.length; h++) lost(this.#flightIds[h]!, this.#flightGens[h]!);
    for (let i = 0; i < this.#ids.length; i++) unsent(this.#ids[i]!, this.#gens[i]!);
    this.#waitingBytes = 0;
    this.#frames = [];
    this.#ids = [];
    this.#gens = [];
    this.#flightIds = [];
    this.#flightGens = [];
    this.#flightEnds = [];
    this.#flightHead = 0;
    this.#queued = 0;
  }
}
