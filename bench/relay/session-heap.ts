/**
 * JavaScript heap per idle session of a standalone gateway, for comparing builds (e.g.
 * what a field on Session costs):
 *
 *   node dist/bench/relay/session-heap.js [--sessions 3000] [--dist DIR]...
 *
 * For each build (its dist directory; default this checkout's) a fresh gateway process
 * (session-heap-child.ts, --expose-gc --max-semi-space-size=2) relays to an echo upstream
 * in this process; 200 sessions are opened and closed (warm-up), the heap after full GCs
 * is the baseline, then N sessions each relay one probe and stay open; (heap after −
 * baseline) / N. Builds are measured one after the other, in the order given: give each
 * twice, interleaved, to see the spread.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';

const CHILD = fileURLToPath(new URL('./session-heap-child.js', import.meta.url));
const OWN_DIST = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

async function measure(dist: string, sessions: number): Promise<{ bytesPerSession: number; line: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  const child = spawn(process.execPath, ['--expose-gc', '--max-semi-space-size=2', CHILD, dist, `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const next = async (prefix: string): Promise<string> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return lines.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no "${prefix}" line from the gateway`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    const port = Number((await next('port')).split(' ')[1]);
    const open = async (id: string): Promise<WebSocket> => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=${id}`, { perMessageDeflate: false });
      await once(ws, 'open');
      ws.send('probe');
      await once(ws, 'message');
      return ws;
    };
    for (let i = 0; i < 200; i++) (await open(`warm-${i}`)).terminate();
    await new Promise((r) => setTimeout(r, 1_000));
    child.stdin!.write('measure\n');
    const before = Number((await next('heap')).split(' ')[1]);
    const clients: WebSocket[] = [];
    for (let i = 0; i < sessions; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, sessions - i) }, (_, j) => open(`idle-${i + j}`)))));
    await new Promise((r) => setTimeout(r, 500));
    child.stdin!.write('measure\n');
    const line = await next('heap');
    for (const c of clients) c.terminate();
    return { bytesPerSession: (Number(line.split(' ')[1]) - before) / sessions, line };
  } finally {
    child.kill();
    wss.close();
  }
}

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '3000' }, dist: { type: 'string', multiple: true } } });
const sessions = Number(values.sessions);
const builds = (values.dist ?? [OWN_DIST]).map((d) => resolve(d));
console.log(`# session heap: node dist/bench/relay/session-heap.js --sessions ${sessions} ${builds.map((d) => `--dist ${d}`).join(' ')}`);
for (const dist of builds) {
  const r = await measure(dist, sessions);
  console.log(`${dist}: ${r.bytesPerSession.toFixed(0)} heap bytes per idle session (${r.line})`);
}
process.exit(0);
