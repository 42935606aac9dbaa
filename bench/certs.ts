/**
 * A throwaway PKI for the HAProxy and TLS pipe pairs, made with the openssl CLI: a small EC P-256 CA and two
 * leaf certificates (server and client, both with serverAuth+clientAuth, SAN 127.0.0.1).
 * Comparable to what Trellis issues its proxies (EC P-256 workload certificates).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchPki {
  caPem: string;
  /** Certificate followed by its private key, the form HAProxy's `crt` takes. */
  serverCrtKey: string;
  clientCrtKey: string;
  /** The same certificates and keys as separate files (Node's tls options; the pipe pair). */
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(dir: string): BenchPki {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'], dir);
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=trellis-bench-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem'],
    dir,
  );
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  for (const name of ['server', 'client']) {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=bench-${name}`, '-out', `${name}.csr`], dir);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256',
        '-extfile', 'leaf.ext', '-out', `${name}.pem`],
      dir,
    );
    writeFileSync(join(dir, `${name}.crtkey.pem`), readFileSync(join(dir, `${name}.pem`), 'utf8') + readFileSync(join(dir, `${name}.key`), 'utf8'));
  }
  return {
    caPem: join(dir, 'ca.pem'),
    serverCrtKey: join(dir, 'server.crtkey.pem'),
    clientCrtKey: join(dir, 'client.crtkey.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
