/**
 * Checks the issue-11 native relay (native-relay.ts + native/relay/relay.c) in both of
 * its modes against the behaviour its data path must keep, with a real echo upstream
 * (bench/relay/echo-upstream.ts) and `ws` clients on loopback:
 *   - text, binary, fragmented and large messages (more than one read, more than the
 *     high-water mark) come back whole and in order;
 *   - a ping is handed to the JS path (the pong comes back, and so do later messages);
 *   - invalid UTF-8 in a text message closes the client with 1007, a message over
 *     maxMessageBytes with 1009, an unmasked client frame with 1002;
 *
 *   bash native/relay/build.sh && npx tsc -p . && node dist/bench/native/check.js
 *
 * Not part of `npm test`: the addon is an experiment and needs a C compiler.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ListeningProcess } from '../relay/listening-process.js';

const ECHO = fileURLToPath(new URL('../relay/echo-upstream.js', import.meta.url));
const RELAY = fileURLToPath(new URL('./native-relay.js', import.meta.url));

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

/** Sends `messages` and resolves with the echoes (as strings or lengths) once all came back. */
async function roundTrip(ws: WebSocket, messages: (string | Buffer)[]): Promise<(string | number)[]> {
  const got: (string | number)[] = [];
  const done = new Promise<void>((resolve) => {
    const onMessage = (data: Buffer, binary: boolean): void => {
      got.push(binary ? data.length : data.toString());
      if (got.length === messages.length) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
  for (const m of messages) ws.send(m);
  await done;
  return got;
}

async function checkMode(mode: 'epoll' | 'uring', echoPort: number): Promise<void> {
  const relay = await ListeningProcess.start({ name: `native-relay ${mode}`, args: [RELAY, `ws://127.0.0.1:${echoPort}/`, '1', mode], timeoutMs: 10_000 });
  const url = `ws://127.0.0.1:${relay.port}/ws?clientId=check`;
  try {
    const ws = await open(url);
    const text = 'é€😀'.repeat(3000);
    const sent = ['hello', Buffer.alloc(70_000, 1), text, Buffer.alloc(300_000, 2), 'bye'];
    assert.deepEqual(await roundTrip(ws, sent), ['hello', 70_000, text, 300_000, 'bye'], `${mode}: echoes in order`);

    // A fragmented text message with a code point cut between the fragments.
    const euro = Buffer.from('€');
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    const frag = (fin: boolean, op: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | payload.length]), Buffer.alloc(4), payload]);
    const echoed = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    socket.write(Buffer.concat([frag(false, 1, euro.subarray(0, 1)), frag(true, 0, euro.subarray(1))]));
    assert.equal(await echoed, '€', `${mode}: a fragmented message with a split code point`);

    const pong = once(ws, 'pong');
    ws.ping('are you there');
    assert.equal(String((await pong)[0]), 'are you there', `${mode}: ping answered`);
    assert.deepEqual(await roundTrip(ws, ['after the ping']), ['after the ping'], `${mode}: messages after a ping`);
    ws.close();

    const bad = await open(url);
    const badClosed = closeOf(bad);
    (bad as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]));
    assert.equal(await badClosed, 1007, `${mode}: invalid UTF-8 → 1007`);

    const big = await open(url);
    const bigClosed = closeOf(big);
    big.send(Buffer.alloc(2 * 1024 * 1024));
    assert.equal(await bigClosed, 1009, `${mode}: over maxMessageBytes → 1009`);

    const unmasked = await open(url);
    const unmaskedClosed = closeOf(unmasked);
    (unmasked as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x82, 0x01, 0x00]));
    assert.equal(await unmaskedClosed, 1002, `${mode}: an unmasked client frame → 1002`);
    console.log(`native relay (${mode}): ok`);
  } finally {
    await relay.stop();
  }
}

const echo = await ListeningProcess.start({ name: 'echo upstream', args: [ECHO, '1'], timeoutMs: 10_000 });
try {
  await checkMode('epoll', echo.port);
  await checkMode('uring', echo.port);
} finally {
  await echo.stop();
}
