/**
 * The WebSocket the SDK needs: the standard browser interface (also Electron's
 * renderer, Node ≥ 22's global, and the `ws` package's class), reduced to what it
 * uses, so that the SDK's types need neither the DOM library nor @types/node.
 */

/** A close event: the code and reason the peer sent (1006 when the connection broke). */
export interface CloseEventLike {
  readonly code: number;
  readonly reason: string;
}

/** A message event: text frames arrive as strings. */
export interface MessageEventLike {
  readonly data: unknown;
}

export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected ('' when none). */
  readonly protocol: string;
  // Handlers take `any` so that the browser's, Node's and ws's event types all fit.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** `new WebSocket(url, protocols)`: the global one, or `import WebSocket from 'ws'` on Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** readyState OPEN (the same in every implementation). */
export const OPEN = 1;

/** The runtime's WebSocket, if it has one. */
export function platformWebSocket(): WebSocketConstructor | undefined {
  const ws = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof ws === 'function' ? (ws as WebSocketConstructor) : undefined;
}

/** The largest close reason, in UTF-8 bytes (RFC 6455 §5.5: a control frame's 125 bytes less the code's 2). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * `reason` cut to at most 123 UTF-8 bytes, at a character boundary: a browser's
 * close() throws a SyntaxError for a longer one (and the connection stays open).
 */
export function closeReason(reason: string): string {
  let bytes = 0;
  let end = 0;
  for (const ch of reason) {
    const cp = ch.codePointAt(0)!;
    // A lone surrogate is sent as U+FFFD: 3 bytes.
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes > MAX_CLOSE_REASON_BYTES) return reason.slice(0, end);
    end += ch.length;
  }
  return reason;
}

/** Drops a connection without waiting for its close handshake (the `ws` package can; browsers close and forget). */
export function abandon(ws: WebSocketLike, code: number, reason: string): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined; // a late error event must not reach the console as unhandled
  const terminate = (ws as { terminate?: () => void }).terminate;
  try {
    if (typeof terminate === 'function') terminate.call(ws);
    else ws.close(code, closeReason(reason));
  } catch {
    // already closed
  }
}
