/**
 * The upstreams of the scale benchmark: several echo-upstream processes
 * (bench/relay/echo-upstream.ts), each on its own port of 127.0.0.1. A proxy's
 * connections to one (address, port) can use at most the ~28k ephemeral ports of
 * its source address, so 150k upstream legs need at least six destinations; with
 * 12 processes each also holds about 12.5k sockets, well under 20,000 files.
 */
import type { ListeningProcess } from '../relay/listening-process.js';
import { startEchoUpstream } from '../relay/proxy-under-test.js';

export interface UpstreamFleet {
  ports: number[];
  pids: number[];
  /** ws:// URLs, one per process. */
  urls: string[];
  stop(): Promise<void>;
}

export async function startUpstreamFleet(count: number): Promise<UpstreamFleet> {
  const started: ListeningProcess[] = [];
  try {
    for (let i = 0; i < count; i++) started.push(await startEchoUpstream(1));
  } catch (error) {
    await Promise.all(started.map((p) => p.stop()));
    throw error;
  }
  return {
    ports: started.map((p) => p.port),
    pids: started.map((p) => p.pid),
    urls: started.map((p) => `ws://127.0.0.1:${p.port}/`),
    stop: async () => {
      await Promise.all(started.map((p) => p.stop()));
    },
  };
}
