// The test application: a StratixClient from the bundled SDK, everything it is told
// recorded in window.app for the test to read, and a status panel for screenshots.
// Query: url, clientId, storage=1 (resume state in localStorage), persist=1 (the
// app keeps what it got in localStorage too), sendEveryMs (echo requests),
// backoffMs (the reconnect backoff's ceiling, fixed; with it the jitter is off: every
// wait is the whole ceiling).
import { StratixClient } from '/stratix-client.js';

const q = new URLSearchParams(location.search);
const persist = q.get('persist') === '1';
const app = {
  loads: Number(sessionStorage.getItem('app:loads') ?? 0) + 1,
  states: [],
  messages: persist ? JSON.parse(localStorage.getItem('app:messages') ?? '[]') : [],
  gaps: [],
  resets: [],
  opens: [],
  errors: [],
  sends: [],
};
sessionStorage.setItem('app:loads', String(app.loads));
window.app = app;

const client = new StratixClient({
  url: q.get('url'),
  clientId: q.get('clientId'),
  storage: q.get('storage') === '1' ? localStorage : undefined,
  ...(q.has('backoffMs')
    ? { reconnect: { initialDelayMs: Number(q.get('backoffMs')), maxDelayMs: Number(q.get('backoffMs')) }, random: () => 1 }
    : { reconnect: { initialDelayMs: 100, maxDelayMs: 1000, immediateMaxDelayMs: 200 } }),
});
app.client = client;
client.on('state', (s) => {
  app.states.push(s);
  render();
});
client.on('message', (data, meta) => {
  app.messages.push([meta.seq, data]);
  if (persist) localStorage.setItem('app:messages', JSON.stringify(app.messages)); // same task as the SDK's own write
  render();
});
client.on('gap', (g) => app.gaps.push(g));
client.on('upstreamReset', (u) => app.resets.push(u));
client.on('upstreamOpen', (u) => app.opens.push(u.seq));
client.on('error', (e) => app.errors.push({ code: e.code, message: e.message }));

const every = Number(q.get('sendEveryMs') ?? 0);
let sender;
if (every > 0) {
  sender = setInterval(() => {
    const o = { i: app.sends.length, settled: 0, ok: null, code: null };
    app.sends.push(o);
    client.send(`e${o.i}`).then(
      () => {
        o.settled++;
        o.ok = true;
        render();
      },
      (e) => {
        o.settled++;
        o.ok = false;
        o.code = e.code;
        render();
      },
    );
  }, every);
}
app.stopSending = () => clearInterval(sender);
app.snapshot = () => ({ ...app, client: undefined, snapshot: undefined, stopSending: undefined, sessionId: client.sessionId, lastSeq: client.lastSeq, state: client.state, stats: client.stats });

function render() {
  const el = document.getElementById('state');
  el.textContent = client.state;
  el.className = client.state;
  const last = app.messages.at(-1);
  const ok = app.sends.filter((o) => o.ok === true).length;
  const bad = app.sends.filter((o) => o.ok === false).length;
  document.getElementById('status').textContent = [
    `clientId     ${client.clientId}   (page load ${app.loads})`,
    `sessionId    ${client.sessionId ?? '-'}`,
    `lastSeq      ${client.lastSeq}`,
    `messages     ${app.messages.length}   last: ${last ? `#${last[0]} ${last[1]}` : '-'}`,
    `sends        ${app.sends.length}   acked ${ok}   rejected ${bad}   waiting ${app.sends.length - ok - bad}`,
    `states       ${app.states.join(' → ')}`,
    `gaps         ${app.gaps.map((g) => `${g.resume} firstSeq ${g.firstSeq} lastSeq ${g.lastSeq} (had ${g.lastProcessedSeq})`).join('; ') || '-'}`,
    `resets       ${app.resets.map((r) => `seq ${r.seq}: ${r.code} ${r.reason}`).join('; ') || '-'}`,
    `errors       ${app.errors.map((e) => e.code).join(', ') || '-'}`,
  ].join('\n');
}
render();
