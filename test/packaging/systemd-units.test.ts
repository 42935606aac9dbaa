/**
 * The systemd units in packaging/systemd (docs/multi-host.md, "Install on a host"): parsed,
 * they set every hardening option the docs promise, each with a comment saying why, and not
 * MemoryDenyWriteExecute (V8's JIT); they run commands whose every flag the CLI knows; and
 * systemd itself accepts them (`systemd-analyze verify`, which needs no running systemd) and
 * rates their exposure low (`systemd-analyze security --offline`). The systemd checks are
 * skipped, saying so, where systemd-analyze is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/util/paths.js';
import { agentCommand } from '../../src/cli/commands/agent.js';
import { controlPlaneCommand } from '../../src/cli/commands/control-plane.js';

const unitsDir = join(packageRoot, 'packaging', 'systemd');

interface Directive {
  section: string;
  key: string;
  value: string;
  /** The comment lines of the block (lines since the last blank line) the directive sits in. */
  comments: string[];
}

/** A unit file's directives in order (systemd syntax: sections, `Key=value`, `#`/`;` comments, blank lines). */
function parseUnit(text: string): Directive[] {
  const out: Directive[] = [];
  let section = '';
  let comments: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      comments = [];
      continue;
    }
    if (line.startsWith('#') || line.startsWith(';')) {
      comments.push(line.slice(1).trim());
      continue;
    }
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec !== null) {
      section = sec[1] as string;
      comments = [];
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a directive: ${line}`);
    out.push({ section, key: line.slice(0, eq), value: line.slice(eq + 1), comments: [...comments] });
  }
  return out;
}

function value(ds: Directive[], key: string): string | undefined {
  return ds.filter((d) => d.key === key).at(-1)?.value;
}

/** What both units set, and to what (docs/multi-host.md lists the same). */
const HARDENING: Record<string, string> = {
  NoNewPrivileges: 'yes',
  ProtectSystem: 'strict',
  ProtectHome: 'yes',
  PrivateTmp: 'yes',
  PrivateDevices: 'yes',
  PrivateMounts: 'yes',
  ProtectKernelTunables: 'yes',
  ProtectKernelModules: 'yes',
  ProtectKernelLogs: 'yes',
  ProtectControlGroups: 'yes',
  ProtectClock: 'yes',
  ProtectHostname: 'yes',
  ProtectProc: 'invisible',
  RestrictNamespaces: 'yes',
  RestrictRealtime: 'yes',
  RestrictSUIDSGID: 'yes',
  RemoveIPC: 'yes',
  LockPersonality: 'yes',
  RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
  SystemCallFilter: '@system-service',
  SystemCallErrorNumber: 'EPERM',
  SystemCallArchitectures: 'native',
  CapabilityBoundingSet: '',
  AmbientCapabilities: '',
  UMask: '0077',
  User: 'trellis',
};

const UNITS = [
  { file: 'trellis-control-plane.service', instance: 'trellis-control-plane.service', command: controlPlaneCommand },
  { file: 'trellis-agent@.service', instance: 'trellis-agent@shop.service', command: agentCommand },
] as const;

function systemdAnalyze(): string | false {
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'systemd-analyze is not installed (Debian: systemd); the units are still parsed and checked above';
}

describe('systemd units', () => {
  for (const u of UNITS) {
    const text = readFileSync(join(unitsDir, u.file), 'utf8');
    const ds = parseUnit(text);

    it(`${u.file}: every hardening option set, each explained by a comment in its block`, () => {
      for (const [key, want] of Object.entries(HARDENING)) {
        const d = ds.find((x) => x.key === key);
        assert.ok(d, `${key} is set`);
        assert.equal(d.section, 'Service', `${key} is in [Service]`);
        assert.equal(d.value, want, `${key}=${want}`);
        if (key !== 'User') assert.ok(d.comments.length > 0, `${key} has a comment saying why`);
      }
    });

    it(`${u.file}: MemoryDenyWriteExecute is not set (V8's JIT needs writable-then-executable memory), and the file says so`, () => {
      assert.equal(value(ds, 'MemoryDenyWriteExecute'), undefined);
      assert.match(text, /# MemoryDenyWriteExecute=yes is NOT set, on purpose: V8's JIT/);
    });

    it(`${u.file}: runs trellis with flags the CLI knows, state in its StateDirectory, every variable defaulted`, () => {
      const exec = value(ds, 'ExecStart') ?? '';
      const words = exec.split(/\s+/);
      assert.equal(words[0], 'trellis');
      assert.equal(words[1], u.command.name);
      for (const flag of words.filter((w) => w.startsWith('--'))) assert.ok(u.command.usage.includes(`${flag} `), `trellis ${u.command.name} knows ${flag}`);
      const stateDir = words[words.indexOf('--state-dir') + 1];
      assert.equal(stateDir, `%S/${value(ds, 'StateDirectory')}`, 'the state dir is the one systemd creates and makes writable');
      assert.equal(value(ds, 'StateDirectoryMode'), '0700');
      const defaults = new Set((value(ds, 'Environment') ?? '').split(/\s+/).map((kv) => kv.split('=')[0]));
      // ${X} (one argument) and $X (split into words: the extra flags of a multi-host setup).
      for (const m of exec.matchAll(/\$\{?(\w+)/g)) assert.ok(defaults.has(m[1]), `${m[1]} has a default in Environment=`);
    });
  }

  it('the agent unit stops the agent alone first (KillMode=mixed), so proxies drain before apps stop', () => {
    const ds = parseUnit(readFileSync(join(unitsDir, 'trellis-agent@.service'), 'utf8'));
    assert.equal(value(ds, 'KillMode'), 'mixed');
    assert.match(value(ds, 'ExecStart') ?? '', /--advertise-address \$\{TRELLIS_ADVERTISE_ADDRESS\}/);
  });

  it('across hosts: the agent takes --join and the control plane --store and its seal key through their extra-args variables, documented in the unit', () => {
    const agent = readFileSync(join(unitsDir, 'trellis-agent@.service'), 'utf8');
    const cp = readFileSync(join(unitsDir, 'trellis-control-plane.service'), 'utf8');
    assert.match(value(parseUnit(agent), 'ExecStart') ?? '', / \$TRELLIS_AGENT_ARGS$/);
    assert.match(agent, /TRELLIS_AGENT_ARGS=--join \/etc\/trellis\/join-token/);
    assert.match(value(parseUnit(cp), 'ExecStart') ?? '', / \$TRELLIS_CONTROL_PLANE_ARGS$/);
    assert.match(cp, /--store etcd:\/\/\S+ --ca-seal-key-file \/etc\/trellis\/ca-seal.key --api-tls --advertise-address/);
  });

  describe('checked by systemd', { skip: systemdAnalyze() }, () => {
    /** The units with ExecStart's `trellis` replaced by a stub (verify checks the program exists). */
    function stage(): { dir: string; files: string[] } {
      const dir = mkdtempSync(join(tmpdir(), 'trellis-units-'));
      const stub = join(dir, 'trellis');
      writeFileSync(stub, '#!/bin/sh\nexit 0\n');
      chmodSync(stub, 0o755);
      const files = UNITS.map((u) => {
        const to = join(dir, u.instance);
        writeFileSync(to, readFileSync(join(unitsDir, u.file), 'utf8').replace(/^ExecStart=trellis /m, `ExecStart=${stub} `));
        return to;
      });
      return { dir, files };
    }

    it('systemd-analyze verify accepts both units without a warning', () => {
      const { dir, files } = stage();
      try {
        const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warning (an unknown key or a bad value is only a warning)');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('systemd-analyze security rates each unit at most 2.0 (lower is safer)', () => {
      const { dir, files } = stage();
      try {
        for (const f of files) {
          const r = spawnSync('systemd-analyze', ['security', '--offline=yes', f], { encoding: 'utf8' });
          const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
          assert.ok(m, `${f}: ${r.stdout.slice(-500)} ${r.stderr}`);
          assert.ok(Number(m[1]) <= 2.0, `${f} exposure ${m[1]}`);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
