import { EventEmitter } from 'node:events';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import tls from 'node:tls';
import type { IngressTlsConfig } from '../../api/bootstrap.js';
import { readServerPair } from '../../identity/server-pair.js';
import type { PairProblem, ServerPair } from '../../identity/server-pair.js';
import { SniTable } from './sni-table.js';
import { ingressSecureContextOptions } from './tls-options.js';

/** One loaded pair, as the listener serves it. */
interface Loaded {
  certFile: string;
  keyFile: string;
  pair: ServerPair;
  names: string[];
  context: tls.SecureContext;
}

export interface IngressCertificatesDeps {
  /** Wall-clock time in ms (certificate validity). */
  now: () => number;
  onReloaded: (certs: CertificateStatus[]) => void;
  /** A reload found a bad file: the previous certificates stay in use. */
  onRejected: (problem: PairProblem) => void;
  /** How long to wait after a file event before reading (a cert and its key are rarely written at once). */
  settleMs?: number;
  /** Files are also re-read this often, in case a file event was missed (network filesystems). 0: never. */
  pollMs?: number;
}

export interface CertificateStatus {
  certFile: string;
  names: string[];
  notAfter: string;
}

/**
 * The certificates an ingress TLS listener serves, from PEM files, reloaded when they change.
 *
 * A reload is all or nothing: every pair is read and checked (identity/server-pair.ts, the
 * same checks `trellis up` makes) before any is used, so a half-written or mismatched
 * replacement is refused, reported with the file at fault, and the previous set keeps serving.
 * New handshakes see a new set at once; connections already open keep the certificate they
 * were made with. The directories are watched (not the files: tools that replace a file by
 * renaming a new one over it, and Kubernetes secret volumes, leave a file watch behind), and
 * re-read every `pollMs` as well.
 */
export class IngressCertificates extends EventEmitter {
  private current: { loaded: Loaded[]; sni: SniTable<Loaded> } | null = null;
  private watchers: FSWatcher[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private lastProblem = '';

  constructor(
    private readonly config: IngressTlsConfig,
    private readonly deps: IngressCertificatesDeps,
  ) {
    super();
  }

  /** First load: throws an Error naming the file when a pair is bad (the proxy does not start). */
  load(): void {
    const r = this.readAll();
    if ('problem' in r) throw new Error(`ingress TLS: ${r.problem.file}: ${r.problem.message}`);
    this.install(r.loaded);
  }

  /** The default pair's context options, for the server's own context (clients without SNI). */
  defaultContextOptions(): tls.SecureContextOptions {
    const d = this.serving().sni.fallback;
    return ingressSecureContextOptions(d.pair.certPem, d.pair.keyPem);
  }

  /** The context for a ClientHello's server name (the default when none or unknown). */
  contextFor(serverName: string | undefined): tls.SecureContext {
    return this.serving().sni.lookup(serverName).context;
  }

  status(): { certificates: CertificateStatus[]; lastError: string | null } {
    return { certificates: this.current === null ? [] : describe(this.current.loaded), lastError: this.lastProblem === '' ? null : this.lastProblem };
  }

  /** Starts watching the files' directories (and polling). */
  watch(): void {
    const dirs = new Set(this.config.certificates.flatMap((c) => [dirname(c.certFile), dirname(c.keyFile)]));
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.scheduleReload());
        w.on('error', () => {}); // a removed directory: the poll still runs
        this.watchers.push(w);
      } catch {
        // Not watchable (e.g. gone): the poll covers it.
      }
    }
    const poll = this.deps.pollMs ?? 60_000;
    if (poll > 0) {
      this.pollTimer = setInterval(() => this.reload(), poll);
      this.pollTimer.unref();
    }
  }

  /** Reads the files again; installs them if they changed and are all good. Returns whether it installed. */
  reload(): boolean {
    const r = this.readAll();
    if ('problem' in r) {
      const text = `${r.problem.file}: ${r.problem.message}`;
      // Once per distinct problem: a poll must not repeat the same line every minute.
      if (text !== this.lastProblem) {
        this.lastProblem = text;
        this.deps.onRejected(r.problem);
      }
      return false;
    }
    this.lastProblem = '';
    const old = this.current?.loaded ?? [];
    const same = old.length === r.loaded.length && old.every((o, i) => o === r.loaded[i]);
    if (same) return false;
    this.install(r.loaded);
    this.deps.onReloaded(describe(r.loaded));
    this.emit('changed');
    return true;
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.settleTimer = null;
    this.pollTimer = null;
  }

  private scheduleReload(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.reload();
    }, this.deps.settleMs ?? 200);
    this.settleTimer.unref();
  }

  private serving(): { loaded: Loaded[]; sni: SniTable<Loaded> } {
    if (this.current === null) throw new Error('ingress TLS certificates used before load()');
    return this.current;
  }

  private readAll(): { loaded: Loaded[] } | { problem: PairProblem } {
    const now = this.deps.now();
    const loaded: Loaded[] = [];
    for (const c of this.config.certificates) {
      const r = readServerPair(c.certFile, c.keyFile, now);
      if (!r.ok) return { problem: r.problem };
      // Unchanged files (the periodic re-read): keep the context already built.
      const same = this.current?.loaded[loaded.length];
      if (same !== undefined && same.pair.certPem === r.pair.certPem && same.pair.keyPem === r.pair.keyPem) {
        loaded.push(same);
        continue;
      }
      let context: tls.SecureContext;
      try {
        context = tls.createSecureContext(ingressSecureContextOptions(r.pair.certPem, r.pair.keyPem));
      } catch (err) {
        // OpenSSL may still refuse what Node's parser took (e.g. a key too weak for its security level).
        return { problem: { which: 'cert', file: c.certFile, message: `OpenSSL refused the pair (${(err as Error).message})` } };
      }
      loaded.push({ certFile: c.certFile, keyFile: c.keyFile, pair: r.pair, names: c.hosts.length > 0 ? c.hosts : r.pair.dnsNames, context });
    }
    if (loaded.length === 0) return { problem: { which: 'cert', file: '(none)', message: 'no certificates configured' } };
    return { loaded };
  }

  private install(loaded: Loaded[]): void {
    this.current = { loaded, sni: new SniTable(loaded.map((l) => ({ names: l.names, value: l })), loaded[0] as Loaded) };
  }
}

function describe(loaded: Loaded[]): CertificateStatus[] {
  return loaded.map((l) => ({ certFile: l.certFile, names: l.names, notAfter: l.pair.notAfter.toISOString() }));
}
