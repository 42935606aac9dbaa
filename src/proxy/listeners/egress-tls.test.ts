import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { ExternalServiceConfig } from '../../api/snapshot.js';
import { createAccessLog } from '../../telemetry/access-log.js';
import { silentLogger } from '../../telemetry/logger.js';
import { ProxyMetrics } from '../../telemetry/metrics.js';
import { foreignCredentials } from '../../../test/helpers/certs.js';
import { systemClock } from '../clock/clock.js';
import { EgressTable } from '../egress/egress-table.js';
import type { ListenerContext } from './context.js';
import { EgressTlsListener } from './egress-tls.js';

/** What the TLS egress listener reads of its context; the rest is never touched by it. */
function context(metrics: ProxyMetrics): ListenerContext {
  return {
    node: { nodeId: 'shop/web/0', identity: 'spiffe://td/ns/shop/sa/web', namespace: 'shop', workload: 'web', service: 'web', serviceAccount: 'web' },
    metrics,
    logger: silentLogger(),
    accessLog: createAccessLog('off'),
    tracer: { enabled: false },
    clock: systemClock,
    appConnectTimeoutMs: 2000,
  } as unknown as ListenerContext;
}

/** Sends `bytes`, then reports how the listener ended the connection. */
function send(port: number, bytes: Buffer, endAfter = false): Promise<'reset' | 'closed'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(bytes);
      if (endAfter) s.end();
    });
    s.on('data', () => {});
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' ? 'reset' : 'closed'));
    s.on('close', () => resolve('closed'));
  });
}

describe('TLS egress listener, over real sockets', () => {
  const metrics = new ProxyMetrics();
  let outside: tls.Server;
  let listener: EgressTlsListener;

  before(async () => {
    const creds = foreignCredentials('spiffe://outside/ns/x/sa/y');
    outside = tls.createServer({ cert: creds.certPem, key: creds.keyPem }, (s) => s.end('hello from outside\n'));
    await new Promise<void>((r) => outside.listen(0, '127.0.0.1', r));
    const table = new EgressTable();
    const svc: ExternalServiceConfig = { namespace: 'shop', name: 'api', hostname: 'api.example', port: 443, protocol: 'tls', endpoints: [{ host: '127.0.0.1', port: (outside.address() as net.AddressInfo).port }] };
    const p = table.prepare([svc]);
    assert.ok(p.ok);
    p.commit();
    listener = new EgressTlsListener({ name: 'egress-secure', protocol: 'tcp', listen: { host: '127.0.0.1', port: 0 }, cluster: 'egress/unregistered:443', egress: { port: 443, protocol: 'tls', mode: 'registryOnly' } }, context(metrics), table);
    await listener.listen();
  });

  after(async () => {
    listener.close();
    await new Promise((r) => outside.close(r));
  });

  it('relays a declared name to its endpoint; the TLS session is the client\'s own', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: listener.port, servername: 'api.example', rejectUnauthorized: false });
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.equal(got, 'hello from outside\n');
  });

  it('hostile first bytes are reset, never relayed: plain HTTP, a bad record, a ClientHello cut short, no SNI', async () => {
    assert.equal(await send(listener.port, Buffer.from('GET / HTTP/1.1\r\nHost: api.example\r\n\r\n')), 'reset');
    assert.equal(await send(listener.port, Buffer.from([22, 3, 1, 0xff, 0xff, 1, 2, 3])), 'reset');
    assert.equal(await send(listener.port, Buffer.from([22, 3, 1, 0, 200, 1, 0, 0]), true), 'closed', 'a client that leaves mid-ClientHello is just closed');
    const noSni = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: listener.port, rejectUnauthorized: false });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('secureConnect', () => resolve('connected'));
    });
    assert.notEqual(noSni, 'connected');
    const text = await metrics.text();
    assert.match(text, /trellis_egress_connections_total\{listener="egress-secure",destination="unregistered",decision="denied"\} 3/);
    assert.match(text, /trellis_egress_connections_total\{listener="egress-secure",destination="shop\/api",decision="allowed"\} 1/);
  });
});
