/**
 * Certificates for TLS tests, made by the test with Debian's openssl in a temp
 * directory: a CA, server certificates for 127.0.0.1 / localhost (and an SNI
 * name), and a client certificate, all signed by the CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  /** Issues a certificate; returns the paths of its PEM key and certificate. */
  issue(name: string, opts: { cn: string; san?: string[]; client?: boolean }): { key: string; cert: string };
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'stratix-pki-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Stratix Test CA'], dir);
  let serial = 1;
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    issue(name, opts) {
      const key = join(dir, `${name}.key`);
      const cert = join(dir, `${name}.pem`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${opts.cn}`], dir);
      const ext = [
        opts.client ? 'extendedKeyUsage=clientAuth' : 'extendedKeyUsage=serverAuth',
        ...(opts.san === undefined ? [] : [`subjectAltName=${opts.san.join(',')}`]),
      ].join('\n');
      writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '2', '-out', cert, '-extfile', `${name}.ext`], dir);
      return { key, cert };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
