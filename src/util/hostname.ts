/**
 * Gateway API hostnames (HTTPRoute / GRPCRoute `spec.hostnames`, redirect and rewrite
 * hostnames): RFC 1123 names in lower case, at most 253 characters, labels of 1..63, with two
 * exceptions the Gateway API makes: IP addresses are not hostnames, and a route hostname may
 * start with a wildcard label `*.` (by itself, first label only). Shared by apply-time
 * validation (src/config/resources) and the proxies' route compiler (src/proxy/routing), so a
 * hostname the control plane accepts is one every proxy accepts.
 */

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Why `name` is not a valid hostname, or undefined when it is. */
export function hostnameProblem(name: unknown, options: { wildcard: boolean }): string | undefined {
  if (typeof name !== 'string' || name === '') return 'expected a hostname';
  if (name.length > 253) return 'a hostname has at most 253 characters';
  let rest = name;
  if (rest.startsWith('*.')) {
    if (!options.wildcard) return 'a wildcard is not allowed here (expected a precise hostname)';
    rest = rest.slice(2);
  }
  if (rest.includes('*')) return 'a wildcard must be the whole first label, as in *.example.com';
  if (rest !== rest.toLowerCase()) return 'expected a lower-case hostname (requests match case-insensitively)';
  const labels = rest.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return label === ''
        ? 'expected a hostname without empty labels or a trailing dot'
        : `label "${label.slice(0, 70)}" is not an RFC 1123 label (a-z, 0-9 and "-", 1-63 characters, starting and ending with a letter or digit)`;
    }
  }
  // RFC 3696: a top-level label is never all digits, so `10.0.0.1` is an address, not a name.
  if (/^[0-9]+$/.test(labels[labels.length - 1] as string)) return 'IP addresses are not hostnames (Gateway API)';
  return undefined;
}
