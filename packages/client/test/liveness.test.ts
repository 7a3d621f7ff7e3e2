import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Liveness } from '../src/liveness.js';

test('silence for two heartbeat intervals is a dead connection; traffic keeps it alive', async () => {
  const dead: string[] = [];
  const l = new Liveness(Date.now, (why) => dead.push(why));
  l.start(100);
  for (let i = 0; i < 8; i++) {
    await sleep(50);
    l.traffic();
  }
  assert.deepEqual(dead, [], 'alive while frames arrive');
  const t0 = Date.now();
  while (dead.length === 0 && Date.now() - t0 < 2_000) await sleep(10);
  assert.equal(dead.length, 1);
  assert.match(dead[0]!, /nothing from the gateway for \d+ ms \(heartbeat 100 ms\)/);
  assert.ok(Date.now() - t0 >= 200, 'not before two intervals of silence');
  l.stop();
});

test('a check that runs late (the clock jumped: the machine slept) with no traffic for 1.5 intervals is dead at once', async () => {
  let offset = 0;
  const dead: string[] = [];
  const l = new Liveness(() => Date.now() + offset, (why) => dead.push(why));
  l.start(1_000); // checks every 500 ms; silence alone would need 2 s
  offset = 1_100; // the machine slept: timers did not run, the wall clock went on (silence ~1.6 s at the check)
  await sleep(600);
  assert.equal(dead.length, 1);
  assert.match(dead[0]!, /the liveness check ran \d+ ms late and nothing arrived for \d+ ms/);
  l.stop();
});

test('a late check with traffic meanwhile (timers throttled, frames arriving) stays alive', async () => {
  let offset = 0;
  const dead: string[] = [];
  const l = new Liveness(() => Date.now() + offset, (why) => dead.push(why));
  l.start(200); // checks every 100 ms
  offset = 1_000; // the next check is late by ~1 s ...
  l.traffic(); // ... but a frame arrived just before it
  await sleep(130);
  assert.deepEqual(dead, []);
  l.stop();
});

test('a late check with no more silence than the gateway may keep (an interval plus half a second) stays alive', async () => {
  let now = 0;
  const dead: string[] = [];
  const l = new Liveness(() => now, (why) => dead.push(why));
  l.start(1_000); // the first check is due at 500 (a real 500 ms timer)
  now = 200;
  l.traffic(); // the last HEARTBEAT ...
  now = 1_600; // ... and the check runs 1100 ms late (a throttled timer): 1400 ms of silence, within 1000 + 500
  await sleep(600);
  assert.deepEqual(dead, []);
  l.stop();
});
