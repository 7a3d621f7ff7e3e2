/** Conformance group: opcodes (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { opcodes } from './cases/opcodes.js';

runGroup(opcodes);
