/**
 * What a heap snapshot holds, by constructor: count and self size of every kind of
 * node, and per session when the number of sessions the process held is given:
 *
 *   node dist/bench/relay/heap-census.js SNAPSHOT [--baseline SNAPSHOT] [--sessions N] [--top 40]
 *
 * With `--baseline` (a snapshot of the same process, or of one like it, holding fewer
 * sessions) each row is the difference; `--sessions` is then the difference in
 * sessions. A snapshot comes from a process started with `--heapsnapshot-signal=SIGUSR2`
 * (bench/relay: `--proxy-node-args="--heapsnapshot-signal=SIGUSR2" --hold-s 60`, then
 * `kill -USR2 PID` of a worker) or from `v8.writeHeapSnapshot()`. The C++ objects Node
 * reports into the snapshot (`Node / TCPWrap`, its `uv_tcp_t`…) appear under their
 * names with the sizes Node gives them; malloc's own overhead and V8's free space do not.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

interface Row {
  count: number;
  bytes: number;
}

/** Counts and self sizes by "type: name" (objects by constructor, closures by function name, strings together). */
export function census(file: string): Map<string, Row> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const rows = new Map<string, Row>();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + fType]!]!;
    const key = groupKey(type, snap.strings[nodes[i + fName]!]!);
    const row = rows.get(key) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += nodes[i + fSize]!;
    rows.set(key, row);
  }
  return rows;
}

function groupKey(type: string, name: string): string {
  // Strings, numbers and code are many small distinct names: one row per type.
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'code' || type === 'regexp') return type;
  if (type === 'hidden' || type === 'array' || type === 'object shape') return `${type}: ${name.replace(/\d+/g, 'N').slice(0, 60)}`;
  return `${type}: ${name.slice(0, 80)}`;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { baseline: { type: 'string' }, sessions: { type: 'string' }, top: { type: 'string', default: '40' } },
  });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: heap-census.js SNAPSHOT [--baseline SNAPSHOT] [--sessions N] [--top 40]');
  const after = census(file);
  const before = values.baseline === undefined ? new Map<string, Row>() : census(values.baseline);
  const sessions = values.sessions === undefined ? 0 : Number(values.sessions);
  const diff = [...new Set([...after.keys(), ...before.keys()])].map((key) => {
    const a = after.get(key) ?? { count: 0, bytes: 0 };
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: a.count - b.count, bytes: a.bytes - b.bytes };
  });
  diff.sort((x, y) => y.bytes - x.bytes);
  const total = diff.reduce((t, r) => t + r.bytes, 0);
  const per = (n: number): string => (sessions > 0 ? (n / sessions).toFixed(2) : '');
  console.log(`# heap census: ${file}${values.baseline === undefined ? '' : ` minus ${values.baseline}`}${sessions > 0 ? `, per session of ${sessions}` : ''}`);
  console.log(['bytes', 'count', sessions > 0 ? 'bytes/session' : '', sessions > 0 ? 'count/session' : '', 'what'].filter(Boolean).join('\t'));
  for (const r of diff.slice(0, Number(values.top))) {
    console.log([r.bytes, r.count, per(r.bytes), per(r.count), r.key].filter((v) => v !== '').join('\t'));
  }
  console.log([total, '', per(total), '', 'total (self sizes)'].filter((v) => v !== '').join('\t'));
}

main();
