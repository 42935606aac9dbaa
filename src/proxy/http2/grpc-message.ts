/**
 * `grpc-message` as the gRPC HTTP/2 protocol spec defines it: the message's UTF-8 octets, with
 * every octet outside printable ASCII (0x20-0x7E) and `%` itself written `%XX`; everything else
 * goes as it is, so a reader of the raw header (and of a client that shows it undecoded) sees
 * `trellis app-unavailable: ...`, not `%3A`-ridden text as encodeURIComponent would make it.
 */
export function encodeGrpcMessage(message: string): string {
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return percentEncode(message);
  }
  return message;
}

function percentEncode(message: string): string {
  let out = '';
  for (const octet of Buffer.from(message, 'utf8')) {
    out += octet >= 0x20 && octet <= 0x7e && octet !== 0x25 ? String.fromCharCode(octet) : `%${octet < 16 ? '0' : ''}${octet.toString(16).toUpperCase()}`;
  }
  return out;
}
