/**
 * Entry point of the one-file bundle and of the single executable (scripts/build-sea.mjs).
 * There is no worker file inside them: the primary starts the same program again with
 * WORKER_FLAG first (src/cluster/worker-launch.ts), and that run becomes a worker.
 * Everything else is the ordinary command line (main.ts).
 */
import { WORKER_FLAG } from '../executable.js';

if (process.argv[2] === WORKER_FLAG) {
  process.argv.splice(2, 1);
  void import('../cluster/worker-main.js');
} else {
  void import('./main.js');
}
