/** Conformance group 7: close handling (docs/conformance.md). */
import { runGroup } from './case-runner.js';
import { close } from './cases/close.js';

runGroup(close);
