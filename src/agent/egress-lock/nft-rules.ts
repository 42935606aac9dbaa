/**
 * The nftables ruleset that keeps a mesh's apps from dialing past their proxies in
 * `registryOnly` mode: sockets of processes in the apps' cgroup may reach loopback only (their
 * proxies' listeners, each other's through the mesh); anything else gets a TCP reset (other
 * protocols an ICMP refusal), so an app fails at once instead of hanging. Proxies, the agent
 * and everything else on the host are untouched.
 *
 * Why a cgroup and not the app's uid: today apps run as the agent's own user (docs/security.md,
 * "Egress"), so a uid rule would also stop the proxies. The cgroup (v2) tells the two apart
 * whatever the users; when workloads get their own users, `skuid` would do as well.
 */
export interface AppCgroupMatch {
  /** Path as nft takes it: relative to /sys/fs/cgroup (`unified/trellis-egress-x` on hybrid hosts). */
  nftPath: string;
  /** Depth of the cgroup below the cgroup2 root (nft's `level`). */
  level: number;
}

/** The table name of one mesh's lock: stable, so installing twice replaces, never duplicates. */
export function lockTableName(id: string): string {
  return `trellis_egress_${id.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * One `nft -f` script: create the table (so the delete never fails), delete it, make it anew.
 * Applied atomically by nft, so reinstalling never leaves a moment without rules.
 */
export function lockRuleset(table: string, apps: AppCgroupMatch): string {
  const match = `socket cgroupv2 level ${apps.level} ${JSON.stringify(apps.nftPath)}`;
  return [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    ${match} ip daddr != 127.0.0.0/8 meta l4proto tcp counter reject with tcp reset`,
    `    ${match} ip6 daddr != ::1 meta l4proto tcp counter reject with tcp reset`,
    `    ${match} ip daddr != 127.0.0.0/8 counter reject`,
    `    ${match} ip6 daddr != ::1 counter reject`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Removes the table if it is there (the create makes the delete safe). */
export function unlockRuleset(table: string): string {
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/**
 * The cgroup2 mount point from /proc/self/mountinfo text (field 5 of a line whose type after
 * the ` - ` separator is cgroup2), or null.
 */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || !line.slice(sep + 3).startsWith('cgroup2 ')) continue;
    const mount = line.slice(0, sep).split(' ')[4];
    if (mount !== undefined) return mount;
  }
  return null;
}
