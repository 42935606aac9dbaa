import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';
import type { AgentCertificate, CaBundle, JoinTokenPayload } from '../../api/credentials.js';
import { decodeJoinToken, JOIN_TOKEN_PREFIX } from '../../api/credentials.js';
import { API_PREFIX } from '../../api/registry.js';
import { TrellisError } from '../../errors.js';
import { controlPlaneTlsOptions } from '../../identity/control-plane-tls.js';
import { caFingerprint, findPinnedCertificate, trustDomainOfRoot } from '../../identity/fingerprint.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { agentSpiffeId } from '../../identity/spiffe.js';
import type { Clock } from '../../util/clock.js';
import { HostCredential } from './host-credential.js';
import { hostDir, readHostFiles, writeHostFiles } from './host-files.js';

/** `--join` takes the token itself or a file holding it (so it stays out of `ps` and shell history). */
export async function readJoinToken(arg: string, cwd: string): Promise<JoinTokenPayload> {
  let text = arg.trim();
  if (!text.startsWith(JOIN_TOKEN_PREFIX)) {
    const file = resolve(cwd, arg);
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new TrellisError('TRELLIS_E_USAGE', `--join: "${arg}" is neither a join token (${JOIN_TOKEN_PREFIX}...) nor a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
  }
  const d = decodeJoinToken(text);
  if (!d.ok) throw new TrellisError('TRELLIS_E_USAGE', `--join: ${d.message}`);
  return d.payload;
}

async function call<T>(method: 'GET' | 'POST', url: string, dispatcher: Dispatcher, body?: unknown): Promise<{ status: number; value: T | null; text: string }> {
  const res = await request(url, {
    method,
    dispatcher,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await res.body.text();
  let value: T | null = null;
  try {
    value = JSON.parse(text) as T;
  } catch {
    // an error page: keep the text
  }
  return { status: res.statusCode, value, text };
}

function errorText(r: { value: unknown; text: string }): string {
  const m = (r.value as { error?: { message?: string } } | null)?.error?.message;
  return m ?? r.text.slice(0, 300);
}

/**
 * Discovery, as kubeadm does it: the CA bundle is fetched without verifying the server (there is
 * nothing to verify it with yet) and trusted only for its certificate whose key hashes to the
 * token's pin. Only that certificate is kept: anything else a man in the middle might add to the
 * bundle is dropped. From here on every connection verifies the control plane against it.
 */
async function discover(payload: JoinTokenPayload): Promise<{ apiUrl: string; pinned: string; trustDomain: string }> {
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  const problems: string[] = [];
  try {
    for (const apiUrl of payload.addresses) {
      let r;
      try {
        r = await call<CaBundle>('GET', `${apiUrl}${API_PREFIX}/ca`, insecure);
      } catch (err) {
        problems.push(`${apiUrl}: ${(err as Error).message}`);
        continue;
      }
      if (r.status !== 200 || r.value === null || !Array.isArray(r.value.trustBundlePem)) {
        problems.push(`${apiUrl}: GET /api/v1/ca answered ${r.status}`);
        continue;
      }
      const pinned = findPinnedCertificate(r.value.trustBundlePem, payload.caFingerprint);
      if (pinned === null) {
        const seen = r.value.trustBundlePem.map((pem) => {
          try {
            return caFingerprint(pem);
          } catch {
            return '(not a certificate)';
          }
        });
        throw new TrellisError(
          'TRELLIS_E_UNAUTHORIZED',
          `the control plane at ${apiUrl} presented a CA that the join token does not pin (token: ${payload.caFingerprint}; presented: ${seen.join(', ') || 'none'}): refusing to join. Is this the right control plane, or is something in between?`,
        );
      }
      const trustDomain = trustDomainOfRoot(pinned);
      if (trustDomain === null) throw new TrellisError('TRELLIS_E_IDENTITY', `the pinned CA of ${apiUrl} names no trust domain`);
      return { apiUrl, pinned, trustDomain };
    }
  } finally {
    await insecure.close();
  }
  throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `no control plane of the join token answered: ${problems.join('; ')}`);
}

/**
 * `trellis agent --join`: enrols this host once and keeps its credential in `<stateDir>/host/`.
 * A state directory that already joined as the token's host uses its credential and leaves the
 * token unspent (a service restarted with the same command line must not fail); one that
 * joined as another host is an error.
 */
export async function joinOrResume(stateDir: string, payload: JoinTokenPayload, o: { clock: Clock; logger: Logger }): Promise<HostCredential> {
  const existing = await readHostFiles(stateDir);
  if (existing !== null) {
    if (existing.host !== payload.host) {
      throw new TrellisError('TRELLIS_E_CONFIG', `this state directory joined as host ${existing.host}; the token is for host ${payload.host}: use another --state-dir (or remove ${hostDir(stateDir)} to leave)`);
    }
    o.logger.info({ host: existing.host }, 'already joined: using the saved host credential (the join token is not spent again)');
    return new HostCredential(existing, stateDir, o.clock, o.logger);
  }
  const { apiUrl, pinned, trustDomain } = await discover(payload);
  const { keyPem, csrPem } = await generateKeyAndCsr(agentSpiffeId(trustDomain, payload.host));
  const verified = new Agent({ connect: controlPlaneTlsOptions([pinned]) });
  let r;
  try {
    r = await call<AgentCertificate>('POST', `${apiUrl}${API_PREFIX}/join`, verified, { token: payload.token, csrPem });
  } catch (err) {
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `joining through ${apiUrl}: ${(err as Error).message}`, { cause: err });
  } finally {
    await verified.close();
  }
  if (r.status !== 200 || r.value === null) {
    const code = r.status === 401 || r.status === 403 ? 'TRELLIS_E_UNAUTHORIZED' : r.status >= 500 ? 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE' : 'TRELLIS_E_CONFIG';
    throw new TrellisError(code, `the control plane refused to join host ${payload.host}: ${errorText(r)}`);
  }
  const files = {
    host: payload.host,
    trustDomain,
    apiUrls: [apiUrl, ...payload.addresses.filter((a) => a !== apiUrl)],
    caFingerprint: payload.caFingerprint,
    joinedAt: new Date(o.clock.now()).toISOString(),
    keyPem,
    certChainPem: r.value.certChainPem,
    // The bundle came over a connection verified against the pinned root.
    trustBundlePem: r.value.trustBundlePem,
  };
  await writeHostFiles(stateDir, files);
  o.logger.info({ host: payload.host, apiUrl, notAfter: r.value.notAfter }, 'joined the mesh');
  return new HostCredential(files, stateDir, o.clock, o.logger);
}

/** The saved credential of a state directory that joined earlier, or null. */
export async function resumeHost(stateDir: string, o: { clock: Clock; logger: Logger }): Promise<HostCredential | null> {
  const files = await readHostFiles(stateDir);
  return files === null ? null : new HostCredential(files, stateDir, o.clock, o.logger);
}
