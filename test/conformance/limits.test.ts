/** Conformance group 9: limits, with the upstream open and before it is (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { limits, preOpenLimits } from './cases/limits.js';

runGroup(limits);
runGroup(preOpenLimits);
