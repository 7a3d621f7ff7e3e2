/**
 * Stopping a socket's reads in the primary, softly (until the stream reads ahead again)
 * or for good until released: the primary reads only a client's request head, then
 * either keeps the socket (the operations endpoints, the TLS relay) or hands its
 * handle to a worker, and what it read past the head would then be lost.
 */
import type { Socket } from 'node:net';

interface ReadHandle {
  reading?: boolean;
  readStop?: () => number;
  readStart?: () => number;
}

function handleOf(socket: Socket): ReadHandle | undefined {
  return (socket as unknown as { _handle?: ReadHandle | null })._handle ?? undefined;
}

/**
 * Stops the kernel-level reads: net.Socket#pause() leaves the handle reading (only
 * sockets created with `onread` stop). This lasts only to the next tick: after every
 * chunk the stream reads ahead to its high-water mark (Readable's maybeReadMore →
 * _read → readStart), paused or not, which the operations path and the TLS relay rely
 * on (they read on). A socket that goes to a worker is held with `holdReads` instead.
 */
export function stopReading(socket: Socket): void {
  socket.pause();
  const handle = handleOf(socket);
  if (handle?.reading === true) {
    handle.reading = false;
    handle.readStop?.();
  }
}

/** Stands in for a held handle's readStart: nothing is read (0: no error for net to act on). */
function heldRead(): number {
  return 0;
}

/**
 * Stops the kernel-level reads until `releaseReads`, however many turns the socket then
 * waits for its hand-over: a worker's IPC channel passes one handle at a time and keeps
 * the others, still readable, in the primary until the worker acknowledges the one
 * before. Bytes the primary read meanwhile are lost when the handle moves: a WebSocket
 * client's first message, sent as soon as the worker's 101 arrives (found by
 * bench/scale: about 1 session in 30,000 under load, on both data paths). So the
 * handle's readStart is held too (an own property over the native method).
 */
export function holdReads(socket: Socket): void {
  stopReading(socket);
  const handle = handleOf(socket);
  if (handle !== undefined) handle.readStart = heldRead;
}

/** Undoes `holdReads` (a hand-over that did not happen): the native readStart again, reading as the stream asks. */
export function releaseReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (handle === undefined || !Object.hasOwn(handle, 'readStart')) return;
  Reflect.deleteProperty(handle, 'readStart');
  // The stream may have asked for a read while held (it then waits for data): start it here.
  handle.reading = true;
  handle.readStart?.();
}
