/**
 * Resume of a reliable session with --buffered messages waiting: the time from the
 * HELLO to the last replayed envelope, measured --runs times on fresh sessions.
 *
 * The gateway is started as the README starts it (`node --max-semi-space-size=2
 * dist/src/cli/main.js --config FILE`, 2 workers), in front of an upstream (a child
 * process) that, on "burst N", sends N messages of --bytes bytes after the client has
 * gone; the client is this process.
 *
 *   npx tsc -p . && node dist/bench/reliable/resume.bench.js [--buffered 1000] [--bytes 256] [--runs 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket, { WebSocketServer } from 'ws';
import { describeMachine } from '../relay/machine.js';

const { values } = parseArgs({
  options: {
    buffered: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: '256' },
    runs: { type: 'string', default: '10' },
    upstream: { type: 'boolean', default: false },
  },
});
const buffered = Number(values.buffered);
const bytes = Number(values.bytes);
const runs = Number(values.runs);

/** The upstream process: "burst N B" → N messages of B bytes, 100 ms later. */
async function upstreamMain(): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('message', (d: Buffer) => {
      const [cmd, n, b] = d.toString().split(' ');
      if (cmd !== 'burst') return;
      const payload = 'p'.repeat(Number(b));
      setTimeout(() => {
        for (let i = 0; i < Number(n); i++) ws.send(`${i} ${payload}`);
      }, 100);
    });
  });
  process.stdout.write(`${(wss.address() as { port: number }).port}\n`);
}

function firstLine(child: ChildProcess, match: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (match.test(line)) {
          child.stdout!.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before: ${match}`)));
  });
}

interface Client {
  ws: WebSocket;
  next(test: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

async function open(port: number, clientId: string): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=${clientId}`, ['stratix.v1'], { perMessageDeflate: false });
  const waiting: Array<{ test: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }> = [];
  ws.on('message', (d: Buffer) => {
    const e = JSON.parse(d.toString()) as Record<string, unknown>;
    for (let i = 0; i < waiting.length; i++) {
      if (waiting[i]!.test(e)) {
        waiting.splice(i, 1)[0]!.resolve(e);
        break;
      }
    }
  });
  await once(ws, 'open');
  return { ws, next: (test) => new Promise((resolve) => waiting.push({ test, resolve })) };
}

async function benchMain(): Promise<void> {
  const me = fileURLToPath(import.meta.url);
  const upstream = spawn(process.execPath, [me, '--upstream'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const upPort = Number(await firstLine(upstream, /^\d+$/));
  const dir = mkdtempSync(join(tmpdir(), 'stratix-resume-bench-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ gateway: { listen: '127.0.0.1:0', workers: 2 }, defaultRoute: { openclawGateway: `ws://127.0.0.1:${upPort}/` }, reliable: { log: { dir: join(dir, 'reliable') } } }));
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const gateway = spawn(process.execPath, ['--max-semi-space-size=2', main, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = (JSON.parse(await firstLine(gateway, /"msg":"listening".*"role":"primary"|"role":"primary".*"msg":"listening"/)) as { port: number }).port;
  const command = `node dist/bench/reliable/resume.bench.js --buffered ${buffered} --bytes ${bytes} --runs ${runs}`;
  console.log(`# resume benchmark\ncommand: ${command}\nmachine: ${describeMachine()}\ndate:    ${new Date().toISOString()}\ngateway: node --max-semi-space-size=2 dist/src/cli/main.js --config FILE (2 workers)\n`);
  const times: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const id = `resume-${r}`;
      const a = await open(port, id);
      const helloed = a.next((e) => e.type === 2);
      a.ws.send('{"type":2}');
      const welcome = await helloed;
      await a.next((e) => e.event === 'upstream_open');
      const acked = a.next((e) => e.type === 1);
      a.ws.send(JSON.stringify({ type: 0, messageId: 'b', data: Buffer.from(`burst ${buffered} ${bytes}`).toString('base64') }));
      await acked;
      a.ws.send('{"type":1,"seq":1}');
      a.ws.terminate(); // the burst comes 100 ms later, into the log
      await new Promise((res) => setTimeout(res, 100 + 500));
      const b = await open(port, id);
      const last = b.next((e) => e.seq === 1 + buffered);
      const t0 = performance.now();
      b.ws.send(JSON.stringify({ type: 2, sessionId: welcome.sessionId, lastSeq: 1 }));
      await last;
      times.push(performance.now() - t0);
      b.ws.close(1000);
    }
  } finally {
    gateway.kill('SIGTERM');
    upstream.kill();
    await once(gateway, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((x, y) => x - y);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  console.log(`| buffered messages | bytes each | runs | time to the last replayed: median | p90 | min | max |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
  console.log(`| ${buffered} | ${bytes} | ${runs} | ${q(0.5).toFixed(1)} ms | ${q(0.9).toFixed(1)} ms | ${times[0]!.toFixed(1)} ms | ${times.at(-1)!.toFixed(1)} ms |`);
}

if (values.upstream) await upstreamMain();
else await benchMain();
