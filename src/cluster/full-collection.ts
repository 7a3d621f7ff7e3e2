/**
 * A full garbage collection on demand, for the primary after a full route set has
 * reached every worker. An idle primary allocates almost nothing, so V8 never collects
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
  let gc = (globalThis as { gc?: () => void }).gc;
  return () => {
    if (gc === undefined) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
      setFlagsFromString('--no-expose-gc');
    }
    gc();
  };
}
