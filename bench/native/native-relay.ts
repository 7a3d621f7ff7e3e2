/**
 * Issue 11's experiment (kept as a reference relay for bench/relay; the gateway's own
 * integration is src/relay/native-data-path.ts): a relay whose data path is below net.Socket. It does both
 * WebSocket handshakes as reference-raw-relay.ts does (bench/relay/upgrade-pair.ts), then stops reading both
 * sockets and gives their descriptors to the native addon (native/relay/relay.c),
 * whose relay thread parses every frame header, checks the message size limit and
 * UTF-8 of text messages, counts messages and relays the bytes (client frames keep
 * their own mask). What the addon hands back (a control frame, a fault, EOF, an
 * error) comes here as an event:
 *   - a fault: the close code goes to the side that broke the protocol, 1001 to the other;
 *   - EOF or an error: both sockets are dropped;
 *   - a control frame: this prototype owes it to the JS path; it writes what was owed
 *     and pipes the rest as raw-relay does (not the gateway's contract: see
 *     docs/benchmarks.md, "A data path below net.Socket").
 *
 *   node dist/bench/native/native-relay.js ws://127.0.0.1:UPSTREAM_PORT/ [threads] [epoll|uring]
 *
 * Build the addon first: bash native/relay/build.sh.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { onUpgradePair } from '../relay/upgrade-pair.js';

interface DirState {
  /** Output the relay thread still owed this direction's destination. */
  pending: Buffer;
  /** A split header kept back. */
  held: Buffer;
  /** io_uring mode: bytes of this direction received after the exception, not relayed. */
  received: Buffer;
}
interface RelayEvent {
  id: number;
  kind: number;
  dir: number;
  code: number;
  reason: string;
  rest: Buffer;
  dirs: [DirState, DirState];
}
interface RelayAddon {
  start(threads: number, onEvent: (e: RelayEvent) => void, ioUring: boolean): string;
  adopt(id: number, clientFd: number, upstreamFd: number, maxMessageBytes: number, highWaterBytes: number, group: number): object;
  counts(group: number, out: Float64Array): void;
  stats(): { reads: number; writes: number; wakeups: number };
}

const EXC_CONTROL = 1;
const EXC_FAULT = 2;

const ADDON = fileURLToPath(new URL('../../../native/relay/build/stratix_relay.node', import.meta.url));
const addon = createRequire(import.meta.url)(ADDON) as RelayAddon;

const upstream = new URL(process.argv[2] ?? 'ws://127.0.0.1:9000/');
const threads = Number(process.argv[3] ?? 1);
const ioUring = process.argv[4] === 'uring';
const MAX_MESSAGE_BYTES = 1024 * 1024;
const HIGH_WATER_BYTES = 64 * 1024;

interface Pair {
  client: Socket;
  up: Socket;
}
const sessions = new Map<number, Pair>();
let nextId = 1;

addon.start(threads, onEvent, ioUring);

function onEvent(e: RelayEvent): void {
  const pair = sessions.get(e.id);
  if (pair === undefined) return;
  sessions.delete(e.id);
  const { client, up } = pair;
  // Output the relay thread still owed, in order, before anything else.
  if (e.dirs[0].pending.length > 0) up.write(e.dirs[0].pending);
  if (e.dirs[1].pending.length > 0) client.write(e.dirs[1].pending);
  if (e.kind === EXC_FAULT) {
    const [bad, other] = e.dir === 0 ? [client, up] : [up, client];
    bad.end(closeFrame(e.code, e.reason, e.dir === 1));
    other.end(closeFrame(1001, 'peer went away', e.dir === 0));
    return;
  }
  if (e.kind !== EXC_CONTROL) {
    client.destroy();
    up.destroy();
    return;
  }
  // A control frame or backpressure (the addon's other hand-backs since it serves the gateway).
  const to = (dir: number): Socket => (dir === 0 ? up : client);
  for (const dir of [0, 1]) if (e.dirs[dir]!.held.length > 0) to(dir).write(e.dirs[dir]!.held);
  to(e.dir).write(e.rest);
  for (const dir of [0, 1]) if (e.dirs[dir]!.received.length > 0) to(dir).write(e.dirs[dir]!.received);
  client.pipe(up);
  up.pipe(client);
  for (const s of [client, up]) {
    delete (s as unknown as { _read?: () => void })._read; // net.Socket's own again
    const handle = (s as unknown as { _handle: Handle })._handle;
    handle.reading = true;
    handle.readStart();
    s.resume();
  }
}

/** A close frame; `masked` when we are the client of that connection (the upstream). */
function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const body = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason.slice(0, 100))]);
  const head = Buffer.from([0x88, (masked ? 0x80 : 0) | body.length]);
  if (!masked) return Buffer.concat([head, body]);
  const key = randomBytes(4);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([head, key, body]);
}

interface Handle {
  fd: number;
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/** Stops Node reading the socket (for good: its stream may not start reading again) and returns its descriptor. */
function detach(socket: Socket): number {
  const handle = (socket as unknown as { _handle: Handle })._handle;
  (socket as unknown as { _read: () => void })._read = noRead;
  socket.pause();
  handle.reading = false;
  handle.readStop();
  return handle.fd;
}

function noRead(): void {}

const server = createServer((_req, res) => res.writeHead(426).end());

onUpgradePair(server, upstream, (client, up) => {
  // Bytes that came with a handshake (rare) would need the JS parser first; this prototype passes them on.
  const id = nextId++;
  sessions.set(id, { client, up });
  // The relay thread writes next: what Node still buffers must be out first.
  const adopt = (): void => {
    if (client.writableLength > 0) client.once('drain', adopt);
    else if (up.writableLength > 0) up.once('drain', adopt);
    else addon.adopt(id, detach(client), detach(up), MAX_MESSAGE_BYTES, HIGH_WATER_BYTES, 0);
  };
  adopt();
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', host: '127.0.0.1', port, threads, ioUring }));
});
const counts = new Float64Array(4);
process.on('SIGUSR2', () => {
  addon.counts(0, counts);
  console.log(JSON.stringify({ msg: 'stats', sessions: sessions.size, messages: [counts[0], counts[1]], bytes: [counts[2], counts[3]], ...addon.stats() }));
});
process.on('SIGTERM', () => process.exit(0));
