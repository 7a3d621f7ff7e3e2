/** Conformance group: reserved-bits (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { reservedBits } from './cases/reserved-bits.js';

runGroup(reservedBits);
