/**
 * Opens one client session and proves it relays: after the handshake it sends a
 * small text probe and waits for the echo. If no echo came within half the time
 * allowed, the probe is sent once more, and the session is reported as
 * `reprobed` (its first message was lost or very late) rather than failed.
 */
import { WebSocket } from 'ws';

export const PROBE = Buffer.from('{"probe":true}');
const TEXT = { binary: false } as const;

export interface ProbedSession {
  /** The open session, or undefined when it failed. */
  socket: WebSocket | undefined;
  /** Why it failed. */
  failure: string | undefined;
  /** The first probe got no echo in time; the second one did. */
  reprobed: boolean;
}

function ignore(): void {}

export function openProbedSession(url: string, timeoutMs: number, localAddress?: string): Promise<ProbedSession> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      ...(localAddress === undefined ? {} : { localAddress }),
      // stratix-tls: the run's own self-signed certificate (what is measured is the cost, not the trust).
      ...(url.startsWith('wss:') ? { rejectUnauthorized: false } : {}),
    });
    socket.on('error', ignore);
    let reprobed = false;
    let reprobe: NodeJS.Timeout | undefined;
    const settle = (failure: string | undefined): void => {
      clearTimeout(timer);
      clearTimeout(reprobe);
      socket.removeAllListeners('open').removeAllListeners('message').removeAllListeners('close');
      socket.removeAllListeners('unexpected-response');
      if (failure !== undefined) socket.terminate();
      resolve({ socket: failure === undefined ? socket : undefined, failure, reprobed });
    };
    const timer = setTimeout(
      () => settle(socket.readyState === WebSocket.OPEN ? 'no echo in time' : 'no handshake in time'),
      timeoutMs,
    );
    socket.once('open', () => {
      socket.send(PROBE, TEXT);
      reprobe = setTimeout(() => {
        reprobed = true;
        socket.send(PROBE, TEXT);
      }, timeoutMs / 2);
    });
    socket.once('message', () => settle(undefined));
    socket.once('unexpected-response', (_request, response) => settle(`HTTP ${response.statusCode}`));
    socket.once('close', (code) => settle(`close ${code}`));
    socket.once('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
  });
}
