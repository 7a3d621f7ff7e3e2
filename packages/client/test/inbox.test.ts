import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inbox } from '../src/inbox.js';

test('items are processed in arrival order; an asynchronous step holds the later ones back', async () => {
  const done: number[] = [];
  let last!: () => void;
  const all = new Promise<void>((resolve) => (last = resolve));
  const inbox = new Inbox<number>((n) => {
    if (n % 3 === 0) return sleep(5).then(() => done.push(n));
    done.push(n);
    if (n === 10) last();
    return undefined;
  });
  for (let i = 1; i <= 10; i++) inbox.push(i);
  assert.deepEqual(done, [1, 2], 'held at 3');
  // The last item runs only after the three asynchronous steps before it settled (however slow the machine).
  await all;
  assert.deepEqual(done, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('clear() drops what waits', async () => {
  const done: number[] = [];
  let first!: Promise<unknown>;
  const inbox = new Inbox<number>((n) => (n === 1 ? (first = sleep(5).then(() => done.push(n))) : done.push(n)));
  inbox.push(1);
  inbox.push(2);
  inbox.clear();
  await first;
  await sleep(0); // the inbox's resume runs after the step's promise settled
  assert.deepEqual(done, [1]);
});
