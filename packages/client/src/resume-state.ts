/**
 * The resume state: the session's id and the last seq handed to the application
 * (with none missing before it), optionally kept in a storage adapter so that a
 * reloaded window resumes where the last one stopped.
 *
 * The adapter has the shape of the Web Storage API, so `localStorage` fits as it
 * is; an asynchronous one (IndexedDB, a file in Electron's main process) may return
 * promises. The client writes the new position before it hands a message to the
 * application: a reload between two messages then neither repeats nor loses one.
 */
import { RecoverableError, ClientErrorCodes } from './errors.js';
import { SESSION_ID } from './envelope.js';

export interface ResumeStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

type Maybe = void | Promise<void>;

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

export class ResumeState {
  readonly #storage: ResumeStorage | undefined;
  readonly #key: string;
  readonly #onError: (err: RecoverableError) => void;
  sessionId: string | undefined = undefined;
  /** The last seq handed to the application, none missing before it. */
  lastSeq = 0;
  #loaded = false;

  constructor(storage: ResumeStorage | undefined, key: string, onError: (err: RecoverableError) => void) {
    this.#storage = storage;
    this.#key = key;
    this.#onError = onError;
  }

  /** Reads the stored state once (before the first connect). A state that is not ours or not well-formed is ignored. */
  load(): Maybe {
    if (this.#loaded || this.#storage === undefined) return;
    this.#loaded = true;
    let raw: ReturnType<ResumeStorage['getItem']>;
    try {
      raw = this.#storage.getItem(this.#key);
    } catch (err) {
      this.#failed('load', err);
      return;
    }
    if (isPromise(raw)) return raw.then((v) => this.#adopt(v), (err: unknown) => this.#failed('load', err));
    this.#adopt(raw);
  }

  #adopt(raw: string | null | undefined): void {
    if (typeof raw !== 'string') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      return;
    }
    const s = v as { v?: unknown; sessionId?: unknown; lastSeq?: unknown };
    if (s.v !== 1 || typeof s.sessionId !== 'string' || !SESSION_ID.test(s.sessionId)) return;
    if (typeof s.lastSeq !== 'number' || !Number.isSafeInteger(s.lastSeq) || s.lastSeq < 0) return;
    this.sessionId = s.sessionId;
    this.lastSeq = s.lastSeq;
  }

  /** Moves to (`sessionId`, `lastSeq`) and stores it; a promise when the adapter is asynchronous. */
  set(sessionId: string, lastSeq: number): Maybe {
    this.sessionId = sessionId;
    this.lastSeq = lastSeq;
    if (this.#storage === undefined) return;
    return this.#guard('save', () => this.#storage!.setItem(this.#key, `{"v":1,"sessionId":"${sessionId}","lastSeq":${lastSeq}}`));
  }

  /** Forgets the session (it ended): a reload starts a new one. */
  clear(): Maybe {
    this.sessionId = undefined;
    this.lastSeq = 0;
    if (this.#storage === undefined) return;
    return this.#guard('clear', () => this.#storage!.removeItem(this.#key));
  }

  #guard(op: string, f: () => Maybe): Maybe {
    let r: Maybe;
    try {
      r = f();
    } catch (err) {
      this.#failed(op, err);
      return;
    }
    if (isPromise(r)) return r.then(undefined, (err: unknown) => this.#failed(op, err));
  }

  #failed(op: string, err: unknown): void {
    this.#onError(new RecoverableError(ClientErrorCodes.STORAGE.code, `the resume state could not be ${op === 'load' ? 'loaded' : op === 'save' ? 'saved' : 'cleared'}: ${String(err)}`, err));
  }
}

export { isPromise };
