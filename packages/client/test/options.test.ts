import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attemptUrl, settingsOf, type StratixClientOptions } from '../src/options.js';
import { OptionError } from '../src/errors.js';
import type { WebSocketConstructor } from '../src/websocket.js';

const WS = function () {} as unknown as WebSocketConstructor;
const ok: StratixClientOptions = { url: 'wss://gw.example.com/ws', clientId: 'client-123', WebSocket: WS };

test('each bad option is an OptionError that names it', () => {
  const cases: Array<[Partial<StratixClientOptions> & Record<string, unknown>, RegExp]> = [
    [{ url: 'https://gw.example.com/ws' }, /^url must be ws:\/\/ or wss:\/\//],
    [{ url: 'not a url' }, /^url is not a valid URL/],
    [{ url: 'ws://h/ws?clientId=x' }, /^url must not carry clientId/],
    [{ clientId: 'has space' }, /^clientId must be 1-128 characters/],
    [{ clientId: 'x'.repeat(129) }, /^clientId must be 1-128/],
    [{ reconnect: { initialDelayMs: 0 } }, /^reconnect\.initialDelayMs must be an integer from 1/],
    [{ reconnect: { initialDelayMs: 5_000, maxDelayMs: 1_000 } }, /^reconnect\.maxDelayMs must be an integer from 5000/],
    [{ queue: { maxMessages: 0 } }, /^queue\.maxMessages/],
    [{ ack: { maxMessages: 1.5 } }, /^ack\.maxMessages/],
    [{ credentials: 'token' as never }, /^credentials must be a function/],
    [{ storage: {} as never }, /^storage must have getItem, setItem and removeItem/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => settingsOf({ ...ok, ...bad } as StratixClientOptions), (e: unknown) => e instanceof OptionError && e.code === 'STRATIX_CLIENT_ERR_BAD_OPTION' && message.test(e.message), JSON.stringify(bad));
  }
});

test('without a WebSocket option, the platform one is used, or STRATIX_CLIENT_ERR_NO_WEBSOCKET when there is none (Node 20)', () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  try {
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    assert.throws(() => settingsOf({ url: ok.url, clientId: ok.clientId }), (e: unknown) => e instanceof OptionError && e.code === 'STRATIX_CLIENT_ERR_NO_WEBSOCKET' && /pass one/.test(e.message));
    (globalThis as { WebSocket?: unknown }).WebSocket = WS;
    assert.equal(settingsOf({ url: ok.url, clientId: ok.clientId }).WebSocket, WS);
  } finally {
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    if (saved !== undefined) Object.defineProperty(globalThis, 'WebSocket', saved);
  }
});

test('an attempt URL carries the credentials and the clientId in its query', () => {
  const s = settingsOf({ ...ok, url: 'wss://gw.example.com/ws?region=eu', clientId: 'user@example.com:1' });
  const u = new URL(attemptUrl(s, { token: 'a b&c', sig: 'x/y=' }));
  assert.deepEqual([...u.searchParams], [['region', 'eu'], ['token', 'a b&c'], ['sig', 'x/y='], ['clientId', 'user@example.com:1']]);
  assert.throws(() => attemptUrl(s, { clientId: 'other' }), /must not return clientId/);
  assert.throws(() => attemptUrl(s, { n: 1 as never }), /non-string value for "n"/);
  assert.throws(() => attemptUrl(s, 'token' as never), /must return an object/);
});
