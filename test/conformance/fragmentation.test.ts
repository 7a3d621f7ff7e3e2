/** Conformance group: fragmentation (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { fragmentation } from './cases/fragmentation.js';

runGroup(fragmentation);
