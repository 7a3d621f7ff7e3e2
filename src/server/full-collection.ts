/**
 * A full garbage collection on demand: for the primary after a full route set has
 * reached every worker, and for every process after a burst of connections
 * (burst-collector.ts). An idle primary allocates almost nothing, so V8 never collects
 * on its own, and what a million-rule set leaves behind stays resident: the config
 * file's bytes (~95 MB), copies of the set made for the workers and for the etcd
 * snapshot (~70 MB each), the etcd client's pages. They are Buffers whose memory goes
 * back to the system as soon as a collection finds them unreachable. One collection
 * of the primary's small heap (the rules are off-heap) takes a few milliseconds.
 *
 * `gc` is V8's, exposed the way Node's own tests do when the process was not started
 * with --expose-gc: the flag is set for the moment a context is made, then unset.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function fullCollection(): () => void {
  let gc = (globalThis as { gc?: unknown }).gc as (() => void) | undefined;
  return () => {
    gc ??= contextGc();
    gc();
  };
}

/** V8's gc from a fresh context: --expose-gc is set only while the context is made. */
function contextGc(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
