/**
 * The primary reads a client's request head and nothing more before the socket's handle goes
 * to a worker (src/cluster/held-reads.ts). The socket may then wait several event-loop turns in
 * the primary (a worker's IPC channel passes one handle at a time), and whatever the primary read
 * meanwhile would be lost with the hand-over. A WebSocket client sends its first message as soon
 * as it has the worker's 101, so that window is real under load (bench/scale found it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { readRequestHead } from '../../src/cluster/request-head.js';
import { holdReads, releaseReads } from '../../src/cluster/held-reads.js';

const HEAD = 'GET /ws?clientId=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n';

/**
 * A loopback pair whose server end has read the client's request head; `onHead` ran in
 * readRequestHead's callback, as the primary's hand-over does.
 */
async function afterHead(onHead: (s: Socket) => void): Promise<{ server: Socket; client: Socket; close(): void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect((srv.address() as { port: number }).port, '127.0.0.1');
  const [server] = await accepted;
  const head = new Promise<void>((resolve, reject) =>
    readRequestHead(server, 16 * 1024, 5_000, (s, r) => {
      if (r instanceof Error) reject(r);
      onHead(s);
      resolve();
    }),
  );
  client.write(HEAD);
  await head;
  return { server, client, close: () => (client.destroy(), server.destroy(), srv.close()) };
}

async function afterTurns(client: Socket, bytes: string): Promise<void> {
  for (let i = 0; i < 5; i++) await nextTurn(); // the stream's read-ahead runs on the next tick
  client.write(bytes);
  await new Promise((r) => setTimeout(r, 200));
}

test('a socket held for its hand-over reads nothing past the head, however many turns it waits', async () => {
  const p = await afterHead(holdReads);
  try {
    await afterTurns(p.client, 'the first message, sent once the 101 came');
    assert.equal(p.server.bytesRead, Buffer.byteLength(HEAD), 'nothing read past the head');
    assert.equal(p.server.readableLength, 0, 'nothing buffered either');
  } finally {
    p.close();
  }
});

test('released (a hand-over that did not happen), the socket is read again', async () => {
  const p = await afterHead(holdReads);
  try {
    await afterTurns(p.client, 'more');
    const got: Buffer[] = [];
    p.server.on('data', (d: Buffer) => got.push(d));
    releaseReads(p.server);
    p.server.resume();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(Buffer.concat(got).toString(), 'more');
  } finally {
    p.close();
  }
});

test('without the hold the stream reads ahead on the next tick (what the operations path and the TLS relay rely on)', async () => {
  const p = await afterHead(() => {});
  try {
    await afterTurns(p.client, 'more');
    assert.equal(p.server.bytesRead, Buffer.byteLength(HEAD) + 4, 'read on after the head');
  } finally {
    p.close();
  }
});
