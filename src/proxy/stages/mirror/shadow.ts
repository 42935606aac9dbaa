/**
 * The authority a mirrored request carries: the host with `-shadow` appended, before any port
 * (as Envoy does), so the mirror can tell shadow traffic apart and the port stays valid.
 */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  const bracket = authority.lastIndexOf(']');
  if (colon > bracket && /^\d+$/.test(authority.slice(colon + 1))) {
    return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  }
  return `${authority}-shadow`;
}
