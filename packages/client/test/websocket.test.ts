import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeReason } from '../src/websocket.js';

const bytes = (s: string) => new TextEncoder().encode(s).length;

test('a close reason is cut to 123 UTF-8 bytes (RFC 6455 §5.5) at a character boundary, never split', () => {
  assert.equal(closeReason('short'), 'short');
  assert.equal(closeReason('a'.repeat(123)), 'a'.repeat(123));
  assert.equal(closeReason('a'.repeat(200)), 'a'.repeat(123));
  for (const ch of ['ü', '€', '😀', '\ud800']) {
    const cut = closeReason(`x${ch.repeat(100)}`);
    assert.ok(bytes(cut) <= 123 && bytes(cut) > 119, `${ch}: ${bytes(cut)} bytes`);
    assert.equal(cut, `x${ch.repeat(cut.slice(1).length / ch.length)}`, `${ch}: whole characters only`);
  }
});
