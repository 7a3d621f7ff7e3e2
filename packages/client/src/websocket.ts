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

/** Drops a connection without waiting for its close handshake (the `ws` package can; browsers close and forget). */
export function abandon(ws: WebSocketLike, code: number, reason: string): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined; // a late error event must not reach the console as unhandled
  const terminate = (ws as { terminate?: () => void }).terminate;
  try {
    if (typeof terminate === 'function') terminate.call(ws);
    else ws.close(code, reason);
  } catch {
    // already closed
  }
}
