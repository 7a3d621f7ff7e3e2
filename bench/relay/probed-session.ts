/**
 * Opens one client session and proves it relays: after the handshake it sends a
 * small text probe and waits for the echo. If no echo came within half the time
 * allowed, the probe is sent once more, and the session is reported as
 * `reprobed` (its first message was lost or very late) rather than failed. The
 * second probe has other bytes, so the echo tells which came back first: the relay
 * keeps order, so the second one's echo first means the first probe was lost
 * (`firstLost`), the first one's means it was only late. Both probes name the
 * session's clientId: a first message that is neither of them is another session's
 * (a relay that crossed two sessions), and fails the session as `foreign echo`.
 *
 * With `protocol` "stratix.v1" the session is a reliable one (docs/protocol.md §3):
 * HELLO, then, once upstream_open has come, the probe as a DATA envelope; the echo
 * is a gateway DATA envelope, acknowledged so that the session holds nothing.
 */
import { WebSocket } from 'ws';

export const PROBE = Buffer.from('{"probe":true}');

/** The probes of one session: its clientId in both, the re-sent one with other bytes than the first. */
function probesOf(url: string): [Buffer, Buffer] {
  const id = JSON.stringify(new URL(url).searchParams.get('clientId') ?? '');
  return [Buffer.from(`{"probe":1,"clientId":${id}}`), Buffer.from(`{"probe":2,"clientId":${id}}`)];
}
const TEXT = { binary: false } as const;

export interface ProbedSession {
  /** The open session, or undefined when it failed. */
  socket: WebSocket | undefined;
  /** Why it failed. */
  failure: string | undefined;
  /** The first probe got no echo in time; the second one did. */
  reprobed: boolean;
  /** Reprobed, and the echo that came was the second probe's: the first message was lost, not late. */
  firstLost: boolean;
  /** A first message that was neither of this session's probes (the start of it), or undefined. */
  foreign: string | undefined;
  /** A refusal's Retry-After in seconds (a 503 or 429 that carried one). */
  retryAfterS: number | undefined;
}

function ignore(): void {}

/** How long a session whose first echo was the re-sent probe's is watched for the first one's. */
const LATE_FIRST_WATCH_MS = 60_000;

/**
 * The re-sent probe's echo came first: if the first probe's echo still comes, the two were
 * swapped on the way (not lost); said on stderr (the run's log) with how late it came.
 */
function watchForLateFirst(socket: WebSocket, probe: Buffer, since: number): void {
  const onMessage = (d: Buffer): void => {
    if (!probe.equals(d)) return;
    clearTimeout(timer);
    socket.off('message', onMessage);
    process.stderr.write(`generator: ${probe.toString()} was echoed after the re-sent probe's echo (swapped, not lost), ${(performance.now() - since).toFixed(0)} ms later\n`);
  };
  const timer = setTimeout(() => socket.off('message', onMessage), LATE_FIRST_WATCH_MS).unref();
  socket.on('message', onMessage);
}

/** A probe as a stratix.v1 DATA envelope. */
export const PROBE_ENVELOPE = JSON.stringify({ type: 0, messageId: 'probe', data: PROBE.toString('base64') });

export function openProbedSession(url: string, timeoutMs: number, localAddress?: string, protocol?: 'stratix.v1'): Promise<ProbedSession> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, protocol === undefined ? [] : [protocol], {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      ...(localAddress === undefined ? {} : { localAddress }),
      // stratix-tls: the run's own self-signed certificate (what is measured is the cost, not the trust).
      ...(url.startsWith('wss:') ? { rejectUnauthorized: false } : {}),
    });
    socket.on('error', ignore);
    let reprobed = false;
    let firstLost = false;
    let foreign: string | undefined;
    let retryAfterS: number | undefined;
    let reprobe: NodeJS.Timeout | undefined;
    const settle = (failure: string | undefined): void => {
      clearTimeout(timer);
      clearTimeout(reprobe);
      socket.removeAllListeners('open').removeAllListeners('message').removeAllListeners('close');
      socket.removeAllListeners('unexpected-response');
      if (failure !== undefined) socket.terminate();
      resolve({ socket: failure === undefined ? socket : undefined, failure, reprobed, firstLost, foreign, retryAfterS });
    };
    const timer = setTimeout(
      () => settle(socket.readyState === WebSocket.OPEN ? 'no echo in time' : 'no handshake in time'),
      timeoutMs,
    );
    if (protocol === undefined) {
      const [probe, again] = probesOf(url);
      socket.once('open', () => {
        socket.send(probe, TEXT);
        reprobe = setTimeout(() => {
          reprobed = true;
          socket.send(again, TEXT);
        }, timeoutMs / 2);
      });
      socket.once('message', (d: Buffer) => {
        firstLost = reprobed && again.equals(d);
        if (probe.equals(d) || again.equals(d)) {
          settle(undefined); // (removes every 'message' listener: the watch comes after)
          if (firstLost) watchForLateFirst(socket, probe, performance.now());
          return;
        }
        foreign = d.toString('utf8', 0, 120);
        settle('foreign echo');
      });
    } else {
      socket.once('open', () => socket.send('{"type":2}'));
      socket.on('message', (d: Buffer) => {
        const e = JSON.parse(d.toString()) as { type: number; seq?: number; event?: string };
        if (e.type === 4 && e.event === 'upstream_open') socket.send(PROBE_ENVELOPE);
        else if (e.type === 0) {
          socket.send(`{"type":1,"seq":${e.seq}}`);
          settle(undefined);
        }
      });
    }
    socket.once('unexpected-response', (_request, response) => {
      const after = Number(response.headers['retry-after']);
      if (Number.isFinite(after) && after >= 0) retryAfterS = after;
      settle(`HTTP ${response.statusCode}`);
    });
    socket.once('close', (code) => settle(`close ${code}`));
    socket.once('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
  });
}
