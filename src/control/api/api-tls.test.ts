import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advertisedApiUrls, apiUsesTls, isLoopbackHost, serverCertificateNames } from './api-tls.js';

describe('HTTPS off loopback', () => {
  it('plain HTTP only on a loopback address, unless forced', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'api.localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      assert.equal(isLoopbackHost(h), true, h);
      assert.equal(apiUsesTls({ host: h, port: 0 }, false), false, h);
      assert.equal(apiUsesTls({ host: h, port: 0 }, true), true, h);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'cp.example.com', 'fe80::1', '::ffff:10.0.0.1', '128.0.0.1']) {
      assert.equal(isLoopbackHost(h), false, h);
      assert.equal(apiUsesTls({ host: h, port: 0 }, false), true, h);
    }
  });

  it('the certificate names loopback, the listen addresses, the advertised names, and for a wildcard the host', () => {
    const specific = serverCertificateNames({ listen: [{ host: '10.0.0.5', port: 1 }, { host: '127.0.0.1', port: 2 }], advertise: ['cp.example.com', '[fd00::1]'], hostname: 'vm', interfaceAddresses: ['10.9.9.9'] });
    assert.deepEqual(specific.dns.sort(), ['cp.example.com', 'localhost']);
    assert.deepEqual(specific.ips.sort(), ['10.0.0.5', '127.0.0.1', '::1', 'fd00::1']);
    const wildcard = serverCertificateNames({ listen: [{ host: '0.0.0.0', port: 1 }], advertise: [], hostname: 'VM-1', interfaceAddresses: ['10.9.9.9', 'fe80::2'] });
    assert.deepEqual(wildcard.dns.sort(), ['localhost', 'vm-1']);
    assert.deepEqual(wildcard.ips.sort(), ['10.9.9.9', '127.0.0.1', '::1', 'fe80::2']);
  });

  it('join tokens name the advertised addresses, else the listen address, else every address of the machine', () => {
    assert.deepEqual(advertisedApiUrls({ host: '0.0.0.0', port: 15000 }, ['cp.example.com', 'fd00::1'], ['10.1.1.1']), ['https://cp.example.com:15000', 'https://[fd00::1]:15000']);
    assert.deepEqual(advertisedApiUrls({ host: '10.0.0.5', port: 15000 }, [], ['10.1.1.1']), ['https://10.0.0.5:15000']);
    assert.deepEqual(advertisedApiUrls({ host: '::', port: 15000 }, [], ['10.1.1.1', 'fd00::2']), ['https://10.1.1.1:15000', 'https://[fd00::2]:15000']);
  });
});
