import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inbox } from '../src/inbox.js';

test('items are processed in arrival order; an asynchronous step holds the later ones back', async () => {
  const done: number[] = [];
  const inbox = new Inbox<number>((n) => {
    if (n % 3 === 0) return sleep(5).then(() => done.push(n));
    done.push(n);
    return undefined;
  });
  for (let i = 1; i <= 10; i++) inbox.push(i);
  assert.deepEqual(done, [1, 2], 'held at 3');
  await sleep(50);
  assert.deepEqual(done, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('clear() drops what waits', async () => {
  const done: number[] = [];
  const inbox = new Inbox<number>((n) => (n === 1 ? sleep(5).then(() => done.push(n)) : done.push(n)));
  inbox.push(1);
  inbox.push(2);
  inbox.clear();
  await sleep(20);
  assert.deepEqual(done, [1]);
});
