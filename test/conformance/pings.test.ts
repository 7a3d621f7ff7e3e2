/** Conformance group 2: pings and pongs (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { pings } from './cases/pings.js';

runGroup(pings);
