import type tls from 'node:tls';
import type { ProxyBootstrap } from '../../api/bootstrap.js';
import { PUSH_PATH_CERTIFICATE, PUSH_PATH_ROTATE } from '../../api/push.js';
import type { CertificateRequest, CertificateResponse, ErrorBody } from '../../api/push.js';
import { TrellisError } from '../../errors.js';
import { describeCertificate } from '../../identity/certs.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { clientTlsOptions } from '../../identity/tls.js';
import type { WorkloadCredentialSet } from '../../identity/workload-credentials.js';
import { connectH2, postJson } from './h2-json.js';

export interface IssuedCredentials {
  creds: WorkloadCredentialSet;
  trustBundlePem: string[];
}

const CALL_TIMEOUT_MS = 10_000;

/** The control plane's push endpoints in the order to try them: pushUrls (replicas), else pushUrl alone. */
export function pushUrlsOf(bootstrap: ProxyBootstrap): string[] {
  const list = bootstrap.controlPlane.pushUrls;
  return list !== undefined && list.length > 0 ? [...new Set(list)] : [bootstrap.controlPlane.pushUrl];
}

/** TLS options to reach the control plane: its chain must end in `bundle` and carry its SPIFFE ID. */
export function controlPlaneTls(bootstrap: ProxyBootstrap, creds: WorkloadCredentialSet | null, bundle: string[]): tls.ConnectionOptions {
  return clientTlsOptions(creds, bundle, bootstrap.controlPlane.identity, ['h2']);
}

/**
 * Generates a key and CSR and asks the control plane to sign it: with the one-time token
 * over server-authenticated TLS (first certificate), or over mTLS with the current
 * certificate (rotation). The private key never leaves this process. Replicas are tried in
 * order while they cannot be reached; an answer (even a refusal) ends the search, since every
 * replica would answer the same.
 */
export async function requestCertificate(
  bootstrap: ProxyBootstrap,
  current: WorkloadCredentialSet | null,
  bundle: string[],
): Promise<IssuedCredentials> {
  const { keyPem, csrPem } = await generateKeyAndCsr(bootstrap.node.identity);
  const body: CertificateRequest = { csrPem, nodeId: bootstrap.node.id };
  if (current === null) body.token = bootstrap.controlPlane.token;
  const path = current === null ? PUSH_PATH_CERTIFICATE : PUSH_PATH_ROTATE;
  let last: unknown;
  for (const url of pushUrlsOf(bootstrap)) {
    try {
      return await askOne(url, bootstrap, current, bundle, path, body, keyPem);
    } catch (err) {
      if (!(err instanceof TrellisError) || (err.code !== 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE' && err.code !== 'TRELLIS_E_TIMEOUT')) throw err;
      last = err;
    }
  }
  throw last instanceof Error ? last : new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', 'no control plane to ask');
}

async function askOne(
  url: string,
  bootstrap: ProxyBootstrap,
  current: WorkloadCredentialSet | null,
  bundle: string[],
  path: string,
  body: CertificateRequest,
  keyPem: string,
): Promise<IssuedCredentials> {
  const session = await connectH2(url, controlPlaneTls(bootstrap, current, bundle), CALL_TIMEOUT_MS);
  try {
    const { status, json } = await postJson(session, path, body, CALL_TIMEOUT_MS);
    if (status !== 200) {
      const e = (json as Partial<ErrorBody> | null)?.error;
      throw new TrellisError(
        // A replica in trouble (5xx: e.g. its etcd is away) is as good as unreachable: try the next.
        status === 401 || status === 403 ? 'TRELLIS_E_UNAUTHORIZED' : status >= 500 ? 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE' : 'TRELLIS_E_IDENTITY',
        `POST ${path}: ${status} ${e?.code ?? ''} ${e?.message ?? ''}`.trim(),
      );
    }
    const res = json as CertificateResponse;
    if (!Array.isArray(res.certChainPem) || res.certChainPem.length === 0 || !Array.isArray(res.trustBundlePem)) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `POST ${path}: malformed certificate response`);
    }
    const leaf = describeCertificate(res.certChainPem[0] as string);
    if (leaf.identity !== bootstrap.node.identity) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `issued certificate is for ${leaf.identity ?? '(none)'}, not ${bootstrap.node.identity}`);
    }
    return {
      creds: { keyPem, certChainPem: res.certChainPem, notAfter: leaf.notAfter, serial: leaf.serial },
      trustBundlePem: res.trustBundlePem,
    };
  } finally {
    session.close();
  }
}
