/**
 * Listening TCP sockets from Linux's /proc/net/tcp and /proc/net/tcp6: the agent's view of
 * where an app can be reached (docs/security.md, "The plaintext bypass"). Hand-written: the
 * format is a fixed-column kernel table (proc(5)) and no maintained library parses it.
 *
 *   sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
 *    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   0       0 12345 ...
 *
 * Addresses are 32-bit words printed in host byte order (4 words for IPv6); ports in network
 * order. State 0A is LISTEN.
 */

export interface ListeningSocket {
  /** Display form: `0.0.0.0`, `127.0.0.1`, `::`, `::1`, `::ffff:10.0.0.5`. */
  address: string;
  port: number;
  family: 4 | 6;
  /** The socket's inode: /proc/<pid>/fd/* links to `socket:[<inode>]`. */
  inode: number;
  /** 127.0.0.0/8, ::1 or ::ffff:127.x.x.x: reachable only from this host's own network stack. */
  loopback: boolean;
}

const LISTEN = '0A';

/** `host:port`, IPv6 in brackets (`[::]:8080`), as check's output and the dashboard show it. */
export function formatAddress(s: Pick<ListeningSocket, 'address' | 'port' | 'family'>): string {
  return s.family === 6 ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

/** The 4 bytes of one 32-bit word as the kernel printed it (host order). */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const b = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return littleEndian ? b.reverse() : b;
}

function decodeAddress(hex: string, littleEndian: boolean): { address: string; family: 4 | 6; loopback: boolean } | null {
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return null;
  if (hex.length === 8) {
    const b = wordBytes(hex, littleEndian);
    return { address: b.join('.'), family: 4, loopback: b[0] === 127 };
  }
  if (hex.length !== 32) return null;
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) bytes.push(...wordBytes(hex.slice(w * 8, w * 8 + 8), littleEndian));
  const mapped = bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) {
    const v4 = bytes.slice(12);
    return { address: `::ffff:${v4.join('.')}`, family: 6, loopback: v4[0] === 127 };
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  // The WHATWG URL serializer writes the canonical compressed form (RFC 5952): no hand-written `::` rules.
  const address = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  return { address, family: 6, loopback: address === '::1' };
}

/**
 * The LISTEN sockets of one /proc/net/tcp or tcp6 text. Lines that do not parse are skipped
 * (the header, a truncated read), never thrown. `littleEndian`: the host's byte order
 * (os.endianness() === 'LE'; every Linux the mesh runs on today).
 */
export function parseProcNetTcp(text: string, littleEndian = true): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN || !/^\d+:$/.test(f[0] as string)) continue;
    const [hexAddr, hexPort] = (f[1] as string).split(':');
    if (hexAddr === undefined || hexPort === undefined || !/^[0-9A-Fa-f]{4}$/.test(hexPort)) continue;
    const a = decodeAddress(hexAddr, littleEndian);
    const inode = Number(f[9]);
    if (a === null || !Number.isSafeInteger(inode)) continue;
    out.push({ ...a, port: parseInt(hexPort, 16), inode });
  }
  return out;
}
