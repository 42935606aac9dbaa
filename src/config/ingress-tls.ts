import { resolve } from 'node:path';
import { readServerPair } from '../identity/server-pair.js';
import type { RuleIssue } from './rules.js';
import type { MeshFile } from './schema.js';

/**
 * Ingress TLS files, checked when the mesh file loads (`trellis up`), so a missing file, an
 * unreadable or encrypted key, a key of another certificate, or an expired certificate stops
 * the start with `file:line:col: spec.ingress[i].tls.certificates[j].cert|key: reason` instead
 * of a proxy that fails later. The proxy checks again with the same code on every reload
 * (identity/server-pair.ts). Paths are relative to the mesh file's folder. The files are read
 * here by the user who runs `trellis up`; the proxy that serves them runs as the same user.
 */
export function checkIngressTls(file: MeshFile, dir: string, nowMs: number): RuleIssue[] {
  const issues: RuleIssue[] = [];
  file.spec.ingress.forEach((g, i) => {
    g.tls?.certificates.forEach((c, j) => {
      const base = ['spec', 'ingress', i, 'tls', 'certificates', j];
      const r = readServerPair(resolve(dir, c.cert), resolve(dir, c.key), nowMs);
      if (!r.ok) {
        issues.push({ path: [...base, r.problem.which], message: `${r.problem.which === 'cert' ? c.cert : c.key}: ${r.problem.message}` });
        return;
      }
      if ((c.hosts ?? []).length === 0 && r.pair.dnsNames.length === 0 && j > 0) {
        // Only the first pair is served without a name match; any other needs names.
        issues.push({ path: [...base, 'cert'], message: `${c.cert}: the certificate has no DNS names; list the names it serves in "hosts"` });
      }
    });
  });
  return issues;
}
