/**
 * Socket reads into one buffer shared by every leg of the process, instead of a
 * new Buffer per read pushed through a Readable stream.
 *
 * A `net.Socket` in flowing mode costs, per read: a 64 KiB allocation shrunk to
 * the bytes read, an ArrayBuffer and its backing-store bookkeeping, the
 * Readable's push/emit path and a `nextTick` (maybeReadMore). Node's public
 * `onread` socket option avoids all of it: the handle reads into a buffer we own
 * and calls back with the byte count. A relay reads, parses and writes each
 * chunk at once, so one buffer serves every socket of the process.
 *
 * The sockets a leg gets were made by http (the client's upgrade, the upstream's
 * upgrade) or by child_process (a socket handed over by the primary), so they
 * cannot be given `onread` when created: the leg's socket is made anew over the
 * same handle (`new net.Socket({ handle, onread })`, as net does for accepted
 * connections). That takes the handle from the old object, `_handle`, the one
 * undocumented property used here; where it is not there (or the socket is TLS,
 * whose handle belongs to its TLSSocket), the old socket is kept and read as a
 * stream: same behaviour, more CPU.
 *
 * Contract for the reader: a chunk is valid only during the callback. Bytes kept
 * or written later must be copied (Session.legData copies what it writes: a write
 * that does not complete at once keeps pointing at its bytes). Its 'close' handler
 * calls `connectionClosed` (see kCarriedClose).
 */
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** Large enough for most reads to take whatever the kernel has (Node's own per-read size). */
const SHARED_BYTES = 64 * 1024;
const shared = Buffer.allocUnsafe(SHARED_BYTES);

/** Called with `this` = the socket, the bytes read and the shared buffer (valid during the call). */
export type SharedReadHandler = (this: Socket, nread: number, buf: Buffer) => void;

interface HandleCarrier {
  _handle: { useUserBuffer?: unknown; readStop?: () => number } | null;
}

/**
 * Returns a socket over the same connection that reads into the shared buffer and
 * calls `onRead` for each read (a module-level function: no closure per socket);
 * or undefined when `socket` has to stay as it is (TLS, no handle, bytes already
 * buffered in its stream).
 */
export function withSharedReads(socket: Socket, onRead: SharedReadHandler, allowHalfOpen = false): Socket | undefined {
  const carrier = socket as unknown as HandleCarrier;
  const handle = carrier._handle;
  if (socket instanceof TLSSocket || handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return undefined;
  if (socket.readableLength > 0 || socket.destroyed || !socket.readable) return undefined;
  // Detach the handle from the old object, then retire the object: with no handle,
  // destroy() closes nothing, and the server that accepted it stops counting it.
  const carried = (socket as CarriesClose)[kCarriedClose];
  socket.removeAllListeners();
  carrier._handle = null;
  socket.destroy();
  const next = new Socket({ handle: handle as never, allowHalfOpen, onread: { buffer: shared, callback: onRead } } as never);
  // No listener of its own on the new object: its owner's 'close' handler calls connectionClosed.
  if (carried !== undefined) (next as CarriesClose)[kCarriedClose] = carried;
  return next;
}

/**
 * A socket over the connected descriptor `fd` (the native data path hands one back,
 * native-data-path.ts) that reads into the shared buffer as withSharedReads' do; not
 * reading until resumed.
 */
export function sharedReadsOnFd(fd: number, onRead: SharedReadHandler, allowHalfOpen: boolean): Socket {
  return new Socket({ fd, allowHalfOpen, readable: true, writable: true, pauseOnCreate: true, onread: { buffer: shared, callback: onRead } } as never);
}

/** The carried close listener of `socket` (moved by the owner to the socket that replaces it). */
export function carriedClose(socket: Socket): ConnectionCloseListener | undefined {
  return (socket as CarriesClose)[kCarriedClose];
}

/** Gives `socket` the carried close listener of the one it replaces. */
export function setCarriedClose(socket: Socket, l: ConnectionCloseListener | undefined): void {
  (socket as CarriesClose)[kCarriedClose] = l;
}

/**
 * A close listener that belongs to the connection, not to one socket object: it
 * moves to the new object when withSharedReads replaces the socket (the admission
 * layer counts open connections per source address this way, whoever ends up
 * owning the connection). `onConnectionClosed` is called once, when the connection closes:
 * by a `once('close')` on the socket it was given to, and on a socket made by
 * withSharedReads by its owner's 'close' handler calling `connectionClosed` (one
 * listener, its state object and bound wrapper less per connection: about 200 bytes).
 */
export const kCarriedClose = Symbol('stratix.carriedClose');

export interface ConnectionCloseListener {
  onConnectionClosed(): void;
}

type CarriesClose = Socket & { [kCarriedClose]?: ConnectionCloseListener };

export function carryClose(socket: Socket, listener: ConnectionCloseListener): void {
  (socket as CarriesClose)[kCarriedClose] = listener;
  socket.once('close', onCarriedClose);
}

function onCarriedClose(this: CarriesClose): void {
  connectionClosed(this);
}

/** The socket closed: runs its carried close listener, if it has one (once). A socket made by withSharedReads relies on its owner to call this. */
export function connectionClosed(socket: Socket): void {
  const s = socket as CarriesClose;
  const l = s[kCarriedClose];
  if (l === undefined) return;
  s[kCarriedClose] = undefined;
  l.onConnectionClosed();
}
