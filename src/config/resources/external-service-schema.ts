import net from 'node:net';
import { z } from 'zod';
import { hostnameProblem } from '../../util/hostname.js';

/**
 * ExternalService (trellis.dev/v1alpha1): a destination outside the mesh that workloads may
 * reach through their proxy's egress listeners (docs/configuration.md, "ExternalService").
 * In the mesh's `registryOnly` outbound mode it is the only way out; in `allowAny` it gives the
 * destination a name in metrics and tap, and lets AuthorizationPolicies target it.
 *
 * One hostname, one port, one protocol: `HTTP` (requests go through the proxy's HTTP pipeline,
 * the Host header picks the service) or `TLS` (passthrough: the proxy reads the SNI of the
 * client's ClientHello, never decrypts, and relays the bytes). Compare Istio's ServiceEntry
 * (hosts, ports, resolution STATIC/DNS, endpoints), reduced to what Trellis enforces.
 */

export const EXTERNAL_PROTOCOLS = ['HTTP', 'TLS'] as const;
export type ExternalProtocol = (typeof EXTERNAL_PROTOCOLS)[number];

const hostname = z.string().superRefine((h, ctx) => {
  const problem = hostnameProblem(h, { wildcard: true });
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const address = z.string().refine((a) => net.isIP(a) !== 0, { error: 'expected an IP address (IPv4 or IPv6, no brackets)' });

export const externalServiceSpec = z.strictObject({
    /** The name apps use (Host header, TLS SNI): a lower-case DNS name, or `*.example.com`. */
    hostname,
    /** The destination port; an egress listener of the same port (mesh file `spec.outbound.ports`) serves it. */
    port: z.number().int().min(1).max(65535),
    protocol: z.enum(EXTERNAL_PROTOCOLS),
    /**
     * Where the proxy connects instead of resolving the hostname (Istio's `resolution: STATIC`):
     * IP addresses, each with an optional port (default `port`). Absent: the hostname (for a
     * wildcard, the name the request carries) is resolved by the proxy's host.
     */
    endpoints: z
      .array(z.strictObject({ address, port: z.number().int().min(1).max(65535).optional() }))
      .min(1)
      .max(16)
      .optional(),
  });

export type ExternalServiceSpec = z.output<typeof externalServiceSpec>;
