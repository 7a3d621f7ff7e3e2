/**
 * A standalone gateway in a process of its own, for tests that kill it (`kill -9`)
 * and start it again on the same port and log directory (crash recovery):
 * `node gateway-process.js '<config JSON>'` prints {"port":N} once listening.
 */
import { startGateway } from '../helpers/gateway.js';

const gw = await startGateway(JSON.parse(process.argv[2]!) as Record<string, unknown>);
process.stdout.write(`${JSON.stringify({ port: gw.port })}\n`);
process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
