/*
 * Stratix Gateway live dashboard (served at /admin/ui by the gateway itself).
 *
 * Everything comes from the admin API on this origin, with the token in the
 * Authorization header: GET /admin/metrics?format=prometheus (the same numbers as
 * /metrics), /admin/status, /admin/workers, /admin/sessions, and
 * POST /admin/sessions/{id}/close. The token is asked for once and kept in
 * sessionStorage (this tab only); it never goes into a URL. Refreshes once a second.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'stratix-admin-token';
  const REFRESH_MS = 1000;
  const HISTORY_POINTS = 300;
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY);
  let previous = null; // { at, counters }
  let round = 0;
  let timer = null;
  let cursor = null;
  /** The query of the page of sessions on screen (refreshed every SESSIONS_EVERY rounds). */
  let shownQuery = null;
  const SESSIONS_EVERY = 5;
  const history = { t: [], sessions: [], msgC2U: [], msgU2C: [], bytesC2U: [], bytesU2C: [] };
  const charts = {};

  class Unauthorized extends Error {}

  async function api(path, method = 'GET') {
    const res = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` }, cache: 'no-store', credentials: 'omit' });
    if (res.status === 401 || res.status === 403) throw new Unauthorized((await res.json().catch(() => ({}))).error?.message ?? res.statusText);
    if (path.includes('format=prometheus')) {
      if (!res.ok) throw new Error(`${path}: ${res.status}`);
      return res.text();
    }
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `${path}: ${res.status}`);
    return body;
  }

  // --- Prometheus text ---------------------------------------------------------

  /** name → [{labels, value}] from the text format 0.0.4. */
  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
      if (m === null) continue;
      const labels = {};
      if (m[3] !== undefined) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let l;
        while ((l = re.exec(m[3])) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      const value = Number(m[4]);
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels, value });
    }
    return out;
  }

  /** Sum of the series of `name` whose labels include `want`. */
  function total(metrics, name, want = {}) {
    let sum = 0;
    for (const s of metrics.get(name) ?? []) {
      if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  /** Quantile estimate from cumulative buckets (as histogram_quantile does). */
  function quantile(metrics, name, want, q) {
    const buckets = (metrics.get(`${name}_bucket`) ?? [])
      .filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))
      .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value }))
      .sort((a, b) => a.le - b.le);
    const count = buckets.length === 0 ? 0 : buckets[buckets.length - 1].count;
    if (count === 0) return null;
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (b.le === Infinity) return lower;
        return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
      }
      lower = b.le;
      below = b.count;
    }
    return lower;
  }

  // --- formatting -------------------------------------------------------------

  const nf = new Intl.NumberFormat('en-US');
  function fmt(n, digits = 0) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    return digits > 0 ? n.toFixed(digits) : nf.format(Math.round(n));
  }
  function fmtBytes(n) {
    if (n < 1024) return `${fmt(n)} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return `${v.toFixed(1)} ${units[u]}`;
  }
  function fmtMs(seconds) {
    return seconds === null ? '–' : `${(seconds * 1000).toFixed(2)} ms`;
  }
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  // --- rendering --------------------------------------------------------------

  function renderMetricElements(metrics) {
    for (const el of document.querySelectorAll('[data-metric]')) {
      const want = el.dataset.labels ? JSON.parse(el.dataset.labels) : {};
      const v = total(metrics, el.dataset.metric, want);
      el.dataset.value = String(v);
      el.textContent = fmt(v, Number(el.dataset.digits ?? 0));
    }
  }

  function renderFamily(table, metrics) {
    const label = table.dataset.label;
    const rows = new Map();
    for (const s of metrics.get(table.dataset.family) ?? []) rows.set(s.labels[label], (rows.get(s.labels[label]) ?? 0) + s.value);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const [key, value] of [...rows].sort((a, b) => b[1] - a[1])) {
      const tr = document.createElement('tr');
      cell(tr, key);
      const td = cell(tr, fmt(value), 'num');
      td.dataset.metric = table.dataset.family;
      td.dataset.labels = JSON.stringify({ [label]: key });
      td.dataset.value = String(value);
      body.appendChild(tr);
    }
    if (rows.size === 0) {
      const tr = document.createElement('tr');
      cell(tr, 'none yet');
      body.appendChild(tr);
    }
  }

  function renderRates(metrics, at) {
    const counters = {
      msgC2U: total(metrics, 'stratix_messages_received_total', { direction: 'client_to_upstream' }),
      msgU2C: total(metrics, 'stratix_messages_received_total', { direction: 'upstream_to_client' }),
      bytesC2U: total(metrics, 'stratix_bytes_received_total', { direction: 'client_to_upstream' }),
      bytesU2C: total(metrics, 'stratix_bytes_received_total', { direction: 'upstream_to_client' }),
    };
    const rates = { msgC2U: 0, msgU2C: 0, bytesC2U: 0, bytesU2C: 0 };
    if (previous !== null && at > previous.at) {
      const dt = (at - previous.at) / 1000;
      for (const k of Object.keys(rates)) rates[k] = Math.max(0, (counters[k] - previous.counters[k]) / dt);
    }
    previous = { at, counters };
    $('rate-msg-c2u').textContent = fmt(rates.msgC2U, 1);
    $('rate-msg-u2c').textContent = fmt(rates.msgU2C, 1);
    $('rate-bytes-c2u').textContent = fmtBytes(rates.bytesC2U) + '/s';
    $('rate-bytes-u2c').textContent = fmtBytes(rates.bytesU2C) + '/s';
    for (const [el, v] of [['rate-msg-c2u', rates.msgC2U], ['rate-msg-u2c', rates.msgU2C], ['rate-bytes-c2u', rates.bytesC2U], ['rate-bytes-u2c', rates.bytesU2C]]) $(el).dataset.value = String(v);
    const h = history;
    h.t.push(at / 1000);
    h.sessions.push(total(metrics, 'stratix_connections_active'));
    for (const k of Object.keys(rates)) h[k].push(rates[k]);
    if (h.t.length > HISTORY_POINTS) for (const k of Object.keys(h)) h[k].shift();
    drawCharts();
  }

  function chart(id, series) {
    const el = $(id);
    const opts = {
      width: Math.max(300, el.clientWidth || 380),
      height: 160,
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5 }))],
      axes: [{}, { size: 60 }],
      legend: { live: false },
    };
    return new uPlot(opts, [[], ...series.map(() => [])], el);
  }

  function drawCharts() {
    if (typeof uPlot === 'undefined') return;
    if (charts.sessions === undefined) {
      charts.sessions = chart('chart-sessions', [['open sessions', '#2f5fd0']]);
      charts.messages = chart('chart-messages', [['client → upstream', '#2f5fd0'], ['upstream → client', '#d0622f']]);
      charts.bytes = chart('chart-bytes', [['client → upstream', '#2f5fd0'], ['upstream → client', '#d0622f']]);
    }
    const h = history;
    charts.sessions.setData([h.t, h.sessions]);
    charts.messages.setData([h.t, h.msgC2U, h.msgU2C]);
    charts.bytes.setData([h.t, h.bytesC2U, h.bytesU2C]);
  }

  function renderConnect(metrics) {
    const want = { result: 'open' };
    const count = total(metrics, 'stratix_upstream_connect_seconds_count', want);
    const sum = total(metrics, 'stratix_upstream_connect_seconds_sum', want);
    $('connect-mean').textContent = count === 0 ? '–' : fmtMs(sum / count);
    const p50 = quantile(metrics, 'stratix_upstream_connect_seconds', want, 0.5);
    const p99 = quantile(metrics, 'stratix_upstream_connect_seconds', want, 0.99);
    $('connect-quantiles').textContent = `${fmtMs(p50)} / ${fmtMs(p99)}`;
  }

  function renderStatus(status) {
    $('instance').textContent = `${status.version} · pid ${status.pid} · up ${fmt(status.uptimeSeconds)} s`;
    const health = $('health');
    health.textContent = status.ready ? 'ready' : status.draining ? 'draining' : 'not ready';
    health.className = `badge ${status.ready ? 'ok' : 'bad'}`;
    const rt = status.routeTable ?? {};
    $('route-version').textContent = rt.version ?? '–';
    $('converged-text').textContent = rt.converged === false ? '(converging)' : '';
    const src = status.routeSource;
    $('route-source').textContent = src ? `${src.type} ${src.state}${src.reason ? ` (${src.reason})` : ''}` : '–';
  }

  function renderWorkers(answer) {
    const body = $('workers').tBodies[0];
    body.replaceChildren();
    let slow = 0;
    const rows = answer.workers.map((w) => ({ ...w, name: String(w.worker) }));
    if (answer.primary) rows.push({ ...answer.primary, name: 'primary', ready: true, restarts: null, primary: true });
    for (const w of rows) {
      const tr = document.createElement('tr');
      tr.dataset.worker = w.name;
      cell(tr, w.name);
      cell(tr, w.pid === null ? '–' : String(w.pid));
      cell(tr, w.ready ? 'up' : 'DOWN', w.ready ? '' : 'slow');
      cell(tr, w.primary ? '–' : fmt(w.sessions), 'num').dataset.sessions = String(w.sessions ?? '');
      cell(tr, w.primary ? '–' : fmt(w.slowSessions), 'num');
      cell(tr, w.eventLoopDelay ? `${w.eventLoopDelay.p99Ms} ms` : '–', 'num');
      cell(tr, w.rssBytes === undefined ? '–' : fmtBytes(w.rssBytes), 'num');
      cell(tr, w.restarts === null ? '–' : String(w.restarts), 'num');
      if (!w.primary) slow += w.slowSessions ?? 0;
      body.appendChild(tr);
    }
    $('slow-now').textContent = fmt(slow);
    $('slow-now').dataset.value = String(slow);
  }

  // --- sessions -----------------------------------------------------------------

  function sessionQuery(withCursor) {
    const q = new URLSearchParams({ limit: '100' });
    const prefix = $('search-prefix').value.trim();
    if (prefix !== '') q.set('prefix', prefix);
    const state = $('search-state').value;
    if (state !== '') q.set('state', state);
    if (withCursor && cursor !== null) q.set('cursor', cursor);
    return q;
  }

  let sessionLoads = 0;

  /** Loads the session table; an answer that comes back after a newer request's is dropped. */
  async function loadSessions(withCursor = false) {
    const seq = ++sessionLoads;
    const query = sessionQuery(withCursor);
    const page = await api(`/admin/sessions?${query}`);
    if (seq !== sessionLoads) return;
    shownQuery = query;
    const slowOnly = $('search-slow').checked;
    const body = $('sessions').tBodies[0];
    body.replaceChildren();
    for (const s of page.sessions) {
      if (slowOnly && !s.slow) continue;
      const tr = document.createElement('tr');
      tr.dataset.id = s.id;
      tr.dataset.clientId = s.clientId;
      cell(tr, s.id);
      cell(tr, s.clientId);
      cell(tr, String(s.worker), 'num');
      cell(tr, s.state);
      cell(tr, s.since.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
      cell(tr, `${fmt(s.messages.clientToUpstream)} / ${fmt(s.messages.upstreamToClient)}`, 'num');
      cell(tr, `${fmtBytes(s.bytes.clientToUpstream)} / ${fmtBytes(s.bytes.upstreamToClient)}`, 'num');
      cell(tr, [s.slow ? 'slow' : '', s.paused ? 'paused' : '', s.bufferDepth !== null ? `buffer ${s.bufferDepth}` : ''].filter(Boolean).join(' ') || '–', s.slow ? 'slow' : '');
      cell(tr, s.upstream);
      const td = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'close';
      button.textContent = 'Close';
      button.dataset.close = s.id;
      button.title = 'Close this connection (code 1012: the client reconnects)';
      td.appendChild(button);
      tr.appendChild(td);
      body.appendChild(tr);
    }
    $('sessions-total').textContent = `(${fmt(page.total)} matching${page.unavailable.length > 0 ? `; workers not answering: ${page.unavailable.join(', ')}` : ''})`;
    cursor = page.nextCursor;
    $('sessions-next').disabled = cursor === null;
  }

  async function closeSession(id) {
    const result = await api(`/admin/sessions/${encodeURIComponent(id)}/close`, 'POST');
    $('action-result').textContent = `closed ${result.id} (${result.clientId}) with ${result.code}`;
    await loadSessions();
  }

  // --- loop ---------------------------------------------------------------------

  async function refresh() {
    const at = Date.now();
    try {
      const [text, status, workers] = await Promise.all([api('/admin/metrics?format=prometheus'), api('/admin/status'), api('/admin/workers')]);
      const metrics = parseMetrics(text);
      renderMetricElements(metrics);
      renderFamily($('refusals'), metrics);
      renderFamily($('closes'), metrics);
      renderRates(metrics, at);
      renderConnect(metrics);
      renderStatus(status);
      renderWorkers(workers);
      round++;
      if (round % SESSIONS_EVERY === 0 && shownQuery !== null && !shownQuery.has('cursor')) void loadSessions().catch(() => {});
      const updated = $('updated');
      updated.textContent = `updated ${new Date(at).toLocaleTimeString()}`;
      updated.dataset.at = String(at);
      updated.dataset.round = String(round);
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(err.message);
      $('updated').textContent = `error: ${err.message}`;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function showLogin(message) {
    clearTimeout(timer);
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('main').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message ?? '';
    $('token').focus();
  }

  function start() {
    $('login').hidden = true;
    $('main').hidden = false;
    $('logout').hidden = false;
    previous = null;
    void refresh();
    loadSessions().catch((err) => ($('action-result').textContent = err.message));
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  $('logout').addEventListener('click', () => showLogin());
  $('session-search').addEventListener('submit', (e) => {
    e.preventDefault();
    cursor = null;
    loadSessions().catch((err) => ($('action-result').textContent = err.message));
  });
  $('sessions-next').addEventListener('click', () => loadSessions(true).catch((err) => ($('action-result').textContent = err.message)));
  $('sessions').addEventListener('click', (e) => {
    const id = e.target instanceof HTMLElement ? e.target.dataset.close : undefined;
    if (id === undefined) return;
    e.target.disabled = true;
    closeSession(id).catch((err) => {
      if (err instanceof Unauthorized) showLogin(err.message);
      else $('action-result').textContent = err.message;
    });
  });

  if (token === null) showLogin();
  else start();
})();
