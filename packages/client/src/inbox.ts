/**
 * What arrives from the gateway (frames, closes), processed one at a time in
 * arrival order. A step that returns a promise (an asynchronous storage write
 * before a message is handed on) holds the rest back until it settles; with a
 * synchronous storage (localStorage) or none, nothing is ever queued.
 */
import { isPromise } from './resume-state.js';

export class Inbox<T> {
  readonly #process: (item: T) => unknown;
  #queue: T[] = [];
  #held = false;

  constructor(process: (item: T) => unknown) {
    this.#process = process;
  }

  push(item: T): void {
    if (this.#held) this.#queue.push(item);
    else this.#run(item);
  }

  /** Forgets what is queued (the client closed). */
  clear(): void {
    this.#queue = [];
  }

  #run(item: T): void {
    const r = this.#process(item);
    if (!isPromise(r)) return;
    this.#held = true;
    const resume = (): void => {
      this.#held = false;
      while (!this.#held && this.#queue.length > 0) this.#run(this.#queue.shift()!);
    };
    r.then(resume, resume);
  }
}
