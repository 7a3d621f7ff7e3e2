import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, type Pending } from '../src/outbox.js';

function pending(id: string, bytes: number): Pending {
  return { messageId: id, text: id, bytes, sentOn: 0, resolve: () => undefined, reject: () => undefined };
}

test('bounded in messages and in bytes; a refusal names the bound; nothing queued is dropped', () => {
  const box = new Outbox(3, 100);
  box.add(pending('a', 10));
  box.add(pending('b', 10));
  assert.equal(box.refusal(81)?.code, 'STRATIX_CLIENT_ERR_QUEUE_FULL');
  assert.match(box.refusal(81)!.message, /queue\.maxBytes 100/);
  assert.equal(box.refusal(80), undefined);
  box.add(pending('c', 80));
  assert.match(box.refusal(0)!.message, /queue\.maxMessages 3/);
  assert.deepEqual([box.size, box.bytes], [3, 100]);
  assert.equal(box.take('b')?.messageId, 'b');
  assert.equal(box.take('b'), undefined);
  assert.deepEqual([box.size, box.bytes], [2, 90]);
  assert.deepEqual([...box.values()].map((p) => p.messageId), ['a', 'c']);
  assert.deepEqual(box.drain().map((p) => p.messageId), ['a', 'c']);
  assert.deepEqual([box.size, box.bytes], [0, 0]);
});
