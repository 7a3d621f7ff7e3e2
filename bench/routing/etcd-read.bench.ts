/**
 * Where a full read of N route keys from etcd spends its time: etcd's CPU (from /proc),
 * the reading process's CPU, and the wall clock, for
 *
 *   paged    the read as it was: pages of `--page` keys with `range_end` at the end of
 *            the prefix (etcd counts the rest of the prefix for every page), one at a
 *            time, decoded by etcd3 (protobufjs: an object per pair);
 *   windows  EtcdRouteStore.readAllKvs: disjoint windows (key-windows.ts), three at a
 *            time, decoded in place (etcd-range-codec.ts);
 *   source   EtcdRouteSource.start(): the windows plus the check and the packing of
 *            every rule (what the primary does at start), no snapshot.
 *
 *   node dist/bench/routing/etcd-read.bench.js [--keys 1000000] [--page 50000] [--modes paged,windows,source]
 *
 * A fresh etcd (scripts/install-etcd.sh) is loaded with N seed-style rules first (one
 * transaction per 128 puts, 8 in flight, as million-rules.bench.ts does); every mode
 * then reads the same keys. Run it under the bench lock: the load alone takes ~40 s at 1M.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pino } from 'pino';
import { EtcdRouteSource } from '../../src/sources/etcd-route-source.js';
import { EtcdRouteStore } from '../../src/sources/etcd-route-store.js';
import { prefixRangeEnd } from '../../src/sources/route-key.js';
import { EtcdServer } from '../../test/helpers/etcd-server.js';

const PREFIX = '/stratix/routes/';

/** Rule i in the seed's format (as million-rules.bench.ts writes them). */
function seedRule(i: number): { clientIdPrefix: string; openclawGateway: string } {
  return { clientIdPrefix: `client-${i}-`, openclawGateway: `ws://oc-${i}.tenants.internal:18789/ws` };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
}

/** CPU milliseconds (user + system) a process has used. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function paged(store: EtcdRouteStore, page: number): Promise<number> {
  const key = Buffer.from(PREFIX);
  const end = prefixRangeEnd(key);
  let from = key;
  let revision = 0;
  let keys = 0;
  for (;;) {
    const res = await store.client.kv.range({ key: from, range_end: end, limit: page, ...(revision === 0 ? {} : { revision }) });
    if (revision === 0) revision = Number(res.header.revision);
    keys += res.kvs.length;
    if (!res.more) return keys;
    from = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
  }
}

async function main(): Promise<void> {
  const n = Number(arg('keys', '1000000'));
  const page = Number(arg('page', '50000'));
  const modes = arg('modes', 'paged,windows,source').split(',');
  console.log(`# etcd-read bench ${new Date().toISOString()} node ${process.version} ${os.cpus().length} cores; ${n} keys, page ${page}`);
  const etcd = await EtcdServer.start({ extraArgs: ['--quota-backend-bytes=8589934592', '--snapshot-count=1000000'] });
  try {
    const store = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: PREFIX, requestTimeoutMs: 60_000 });
    const loadStarted = performance.now();
    const pairs = Array.from({ length: n }, (_, i) => {
      const r = seedRule(i);
      return [`prefix/${r.clientIdPrefix}`, JSON.stringify(r)] as const;
    });
    await store.write(pairs, [], { concurrency: 8 });
    const version = spawnSync(process.env['ETCD_BIN'] ?? 'etcd', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
    console.log(`etcd loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s (${version})`);
    const etcdPid = etcd.pid!;
    console.log('mode\tkeys\twall ms\tetcd CPU ms\treader CPU ms\tload1');
    for (const mode of modes) {
      const e0 = cpuMs(etcdPid);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let keys = 0;
      if (mode === 'paged') keys = await paged(store, page);
      else if (mode === 'windows') keys = (await store.readAllKvs(page, () => undefined)).keys;
      else if (mode === 'source') {
        const source = new EtcdRouteSource({ endpoints: [etcd.endpoint], prefix: PREFIX, logger: pino({ level: 'warn' }), pageSize: page, requestTimeoutMs: 60_000 });
        keys = (await source.start()).rules.size;
        await source.close();
      } else throw new Error(`unknown mode ${mode}`);
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      console.log(`${mode}\t${keys}\t${wall.toFixed(0)}\t${(cpuMs(etcdPid) - e0).toFixed(0)}\t${((c.user + c.system) / 1000).toFixed(0)}\t${os.loadavg()[0]!.toFixed(1)}`);
      if (keys !== n) throw new Error(`${mode} read ${keys} keys, not ${n}`);
    }
    store.close();
  } finally {
    await etcd.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
