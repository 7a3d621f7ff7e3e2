/**
 * The gateway under test of session-heap.ts: a standalone Gateway from a build's dist
 * directory (argv[2]) relaying to argv[3]; on "measure" on stdin it answers
 * "heap BYTES sessions N" after full garbage collections. Run with --expose-gc.
 */
const [dist, upstream] = process.argv.slice(2) as [string, string];
const { parseConfig } = (await import(`${dist}/src/config/load.js`)) as typeof import('../../src/config/load.js');
const { Gateway } = (await import(`${dist}/src/server/gateway.js`)) as typeof import('../../src/server/gateway.js');
const gw = await Gateway.start(parseConfig({ gateway: { listen: '127.0.0.1:0' }, defaultRoute: { openclawGateway: upstream }, routing: { watchConfigFile: false } }));
process.stdout.write(`port ${gw.port}\n`);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  if (!d.includes('measure')) return;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  process.stdout.write(`heap ${process.memoryUsage().heapUsed} sessions ${gw.sessions.size}\n`);
});
