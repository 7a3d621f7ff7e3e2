/**
 * The conformance cases again, through the real CLI (`stratix-gateway --config`)
 * with 2 worker processes: the primary reads each upgrade's head and hands the
 * socket to a worker, which relays. Run are the cases whose outcome does not
 * depend on what only the in-process runner can see or control: not the ones
 * that check the gateway's state between writes or start before the upstream
 * opens, nor the ones chopped into TCP writes (through another process a write is
 * not known to be one read), nor the long ones; of the UTF-8 sequences (6.5 …),
 * each is sent in one frame (`.x`). One CLI serves every group that runs on the
 * default settings, another the limits group. Accounting is checked from /metrics.
 */
import { cliEnv, materialize, runGroup, type CaseGroup, type CaseSpec } from './case-runner.js';
import { close } from './cases/close.js';
import { fragmentation } from './cases/fragmentation.js';
import { framing } from './cases/framing.js';
import { limits } from './cases/limits.js';
import { opcodes } from './cases/opcodes.js';
import { pings } from './cases/pings.js';
import { reservedBits } from './cases/reserved-bits.js';
import { utf8 } from './cases/utf8.js';

function throughCli(spec: CaseSpec): boolean {
  if (spec.long === true || spec.preOpen === true) return false;
  if (/^6\.([5-9]|\d\d)\./.test(spec.id) && !spec.id.endsWith('.x')) return false;
  return materialize(spec).steps.every((s) => Buffer.isBuffer(s) || !('gateway' in s || 'chop' in s));
}

const onDefaults: CaseGroup = {
  number: '1–7 (CLI, 2 workers)',
  name: [framing, pings, reservedBits, opcodes, fragmentation, utf8, close].map((g) => g.name).join(', '),
  cases: [framing, pings, reservedBits, opcodes, fragmentation, utf8, close].flatMap((g) => g.cases),
};

runGroup(onDefaults, (g) => cliEnv(g, 2), throughCli);
runGroup({ ...limits, number: `${limits.number} (CLI, 2 workers)` }, (g) => cliEnv(g, 2), throughCli);
