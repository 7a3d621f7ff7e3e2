/** Conformance group 1: framing (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { framing } from './cases/framing.js';

runGroup(framing);
