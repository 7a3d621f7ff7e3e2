import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import pino from 'pino';
import { SessionDirectory } from '../../src/server/session-directory.js';
import type { SessionView } from '../../src/server/session-view.js';

function view(clientId: string): SessionView {
  return {
    clientId, target: 'ws://127.0.0.1:1/', serial: 0, openedAt: 0,
    messages0: 0, messages1: 0, bytes0: 0, bytes1: 0,
    stateName: 'open', paused: false, slow: false, client: null, upstream: null,
    adminClose: () => undefined,
  };
}

it('a session\'s since is never after the wall clock, whatever the tenth of a second it opened in (CI found 18:09:49.908Z in the future)', () => {
  let mono = 1051; // 10.51 tenths: rounding would put the opening at 1100, 49 ms ahead
  const wall = 1_800_000_000_000;
  const dir = new SessionDirectory({ worker: 0, generation: 1, logger: pino({ enabled: false }), now: () => mono, wallNow: () => wall + (mono - 1051) });
  const s = view('a');
  dir.addSource(new Set([s]));
  dir.opened(s);
  for (const later of [1051, 1060, 1099, 5000]) {
    mono = later;
    const since = Date.parse(dir.list({ prefix: '', upstream: undefined, states: undefined, limit: 10, after: undefined }).sessions[0]!.since);
    assert.ok(since <= wall + (mono - 1051), `listed at +${mono - 1051} ms: since is ${since - wall} ms after the opening`);
    assert.ok(since >= wall - 100, `since is at most a tenth of a second before the opening (${since - wall} ms)`);
  }
});
