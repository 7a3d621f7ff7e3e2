/**
 * Progress of long work: the bar on a terminal (redrawn in place, rate and time left), plain
 * lines elsewhere (throttled, and a last line), and `routes import` of 200,000 rules showing
 * it both ways: through a pipe, and on a real pseudo-terminal (util-linux `script`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatDuration, Progress } from '../../src/ops/progress.js';
import { CLI, runCli, writeTempConfig } from '../helpers/cli.js';

function sink(isTTY: boolean): { stream: { isTTY: boolean; columns: number; write(s: string): boolean }; text(): string } {
  let out = '';
  return { stream: { isTTY, columns: 200, write: (s: string) => ((out += s), true) }, text: () => out };
}

test('on a terminal: one line redrawn in place with bar, percent, count, rate and time left', () => {
  let now = 0;
  const out = sink(true);
  const p = new Progress(out.stream, { label: 'importing', unit: 'rules', total: 1_000_000, now: () => now });
  now = 1_000;
  p.update(100_000);
  // The first update: no rate yet (it counts from here).
  assert.equal(out.text(), '\r\x1b[2Kimporting [##------------------]  10%  100,000/1,000,000 rules');
  now = 1_050;
  p.update(105_000); // within 100 ms: not redrawn
  assert.equal(out.text().split('\r').length, 2);
  now = 5_000;
  p.update(500_000);
  assert.ok(out.text().endsWith('\r\x1b[2Kimporting [##########----------]  50%  500,000/1,000,000 rules  100,000/s  5 s left'));
  p.log('a warning');
  assert.ok(out.text().endsWith('\r\x1b[2Ka warning\n\r\x1b[2Kimporting [##########----------]  50%  500,000/1,000,000 rules  100,000/s  5 s left'));
  now = 10_000;
  p.finish(1_000_000);
  assert.ok(out.text().endsWith('\r\x1b[2Kimporting: 1,000,000/1,000,000 rules in 10 s (100,000/s)\n'));
});

test('elsewhere: plain lines, at most one per interval, and a last line', () => {
  let now = 0;
  const out = sink(false);
  const p = new Progress(out.stream, { label: 'reading etcd', unit: 'rules', now: () => now, plainEveryMs: 5_000 });
  for (let t = 1; t <= 12; t++) {
    now = t * 1_000;
    p.update(t * 50_000);
  }
  p.finish();
  assert.equal(
    out.text(),
    'reading etcd: 50,000 rules\n' + 'reading etcd: 300,000 rules (50,000/s)\n' + 'reading etcd: 550,000 rules (50,000/s)\n' + 'reading etcd: 600,000 rules in 12 s (50,000/s)\n',
  );
  assert.equal(formatDuration(75), '1 min 15 s');
  assert.equal(formatDuration(3_725), '1 h 02 min');
});

test('routes import of 200,000 rules: progress on stderr, plain through a pipe, a bar on a terminal', () => {
  const tmp = writeTempConfig({});
  try {
    const rules = join(tmp.dir, 'rules.json');
    const routes = Array.from({ length: 200_000 }, (_, i) => ({ clientId: `tenant-${i}`, openclawGateway: `ws://oc-${i % 50}.internal:18789/ws` }));
    writeFileSync(rules, JSON.stringify({ routes }));
    const target = join(tmp.dir, 'out.json');
    const piped = spawnSync(process.execPath, [CLI, 'routes', 'import', rules, '--file', target], { encoding: 'utf8' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.match(piped.stdout, /^imported 200000 routes into .*: 200000 added, 0 changed, 0 unchanged, 0 deleted\n$/);
    assert.match(piped.stderr, /^validating .*rules\.json: 200,000\/200,000 rules in \d+ s \([\d,]+\/s\)$/m);
    assert.doesNotMatch(piped.stderr, /\r|\x1b/);
    // On a pseudo-terminal: the bar is redrawn in place, with the time left.
    const tty = spawnSync('script', ['-qec', `stty cols 200; ${process.execPath} ${CLI} routes import ${rules} --file ${join(tmp.dir, 'out2.json')}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '120' } });
    assert.equal(tty.status, 0, tty.stdout);
    assert.match(tty.stdout, /\r\x1b\[2Kvalidating \S+ \[[#-]{20}\] +\d+%  [\d,]+\/200,000 rules  [\d,]+\/s  \d+ s left/);
    assert.match(tty.stdout, /\r\x1b\[2Kvalidating \S+: 200,000\/200,000 rules in \d+ s/);
  } finally {
    tmp.cleanup();
  }
});

test('a small import prints only its result', async () => {
  const tmp = writeTempConfig({});
  try {
    const rules = join(tmp.dir, 'rules.json');
    writeFileSync(rules, JSON.stringify({ routes: [{ clientId: 'a', openclawGateway: 'ws://x/ws' }] }));
    const r = await runCli(['routes', 'import', rules, '--file', join(tmp.dir, 'o.json')]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  } finally {
    tmp.cleanup();
  }
});
