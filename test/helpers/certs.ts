/** Certificates from a CA the mesh does not know (openssl), for tests that must be refused. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ForeignCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A fresh self-signed CA and a client/server leaf under it carrying `spiffeId` as URI SAN. */
export function foreignCredentials(spiffeId: string): ForeignCredentials {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-foreign-ca-'));
  try {
    const ssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-subj', '/CN=foreign test CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=impostor');
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=URI:${spiffeId}\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n`);
    ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '1', '-extfile', 'ext.cnf');
    return {
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      certPem: readFileSync(join(dir, 'leaf.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
