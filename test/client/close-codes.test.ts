/**
 * The SDK keys its reconnects on the close codes of docs/protocol.md §4 and its
 * NACK errors on §3.3: its tables must be the gateway's. And two refusals against
 * the real gateway: a "no" code stops the client (4404: no route), a 4503 with a
 * retry_after EVENT makes it wait that long before the next attempt.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { CLOSE_ADVICE, ClosedByGatewayError, NACK_CODES, StratixClient } from '@stratix/client';
import { closeCodeTable } from '../../src/protocol/close-codes.js';
import { NackCodes } from '../../src/errors.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { reach, record } from './fixtures.js';

test("the SDK's reconnect advice is the gateway's close-code table, code for code", () => {
  assert.deepEqual(
    Object.entries(CLOSE_ADVICE).map(([code, advice]) => [Number(code), advice]),
    closeCodeTable.map((c) => [c.code, c.reconnect]),
  );
});

test("the SDK's NACK codes are the gateway's catalogue", () => {
  assert.deepEqual([...NACK_CODES], Object.values(NackCodes).map((n) => n.code));
});

describe('StratixClient: refusals by the real gateway', () => {
  let upstream: TestUpstream;
  let noRoute: Gateway;
  let full: Gateway;
  before(async () => {
    upstream = await startUpstream();
    noRoute = await startGateway({});
    full = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, gateway: { maxConnections: 1 } });
  });
  after(async () => {
    await noRoute.close();
    await full.close();
    await upstream.close();
  });

  test('a "no" code (4404: no route for the clientId) stops the client with STRATIX_CLIENT_ERR_REFUSED; it does not reconnect', async () => {
    const proxy = await TcpProxy.start(noRoute.port);
    const c = new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId: 'nowhere-1', WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
    const r = record(c);
    try {
      await reach(c, 'closed');
      const e = r.errors[0] as ClosedByGatewayError;
      assert.ok(e instanceof ClosedByGatewayError);
      assert.deepEqual([r.errors.length, e.code, e.closeCode, e.closeReason], [1, 'STRATIX_CLIENT_ERR_REFUSED', 4404, 'STRATIX_ERR_NO_ROUTE']);
      assert.deepEqual(r.states, ['connecting', 'closed']);
      await new Promise((resolve) => setTimeout(resolve, 300)); // six times the largest backoff
      assert.equal(proxy.requestLines.length, 1);
    } finally {
      await c.close();
      await proxy.close();
    }
  });

  test('4503 with a retry_after EVENT (over capacity): the next attempt waits retryAfterMs, then gets in', async () => {
    const holder = new StratixClient({ url: `ws://127.0.0.1:${full.port}/ws`, clientId: 'holder-1', WebSocket });
    await reach(holder, 'open');
    const proxy = await TcpProxy.start(full.port);
    const attempts: number[] = [];
    const offline: number[] = [];
    const c = new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId: 'waiter-1', WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
    c.on('state', (s) => {
      if (s === 'connecting') attempts.push(Date.now());
      if (s === 'offline') offline.push(Date.now());
    });
    try {
      await until(() => attempts.length === 1 && c.state === 'offline', 'the refusal');
      const refusedAt = offline[0]!;
      await holder.close();
      await reach(c, 'open', 'the second attempt', 10_000);
      assert.equal(attempts.length, 2);
      assert.ok(attempts[1]! - refusedAt >= 4_900, `waited ${attempts[1]! - refusedAt} ms after a retry_after of 5000 ms`);
    } finally {
      await c.close();
      await holder.close();
      await proxy.close();
    }
  });
});
