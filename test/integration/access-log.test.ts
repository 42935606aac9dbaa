/**
 * Access logs: one JSON line per exchange in each proxy's file under the state directory, with
 * identities on both sides; a response the proxy made itself names its reason there, as in the
 * `trellis-reason` header.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { spiffeId } from '../helpers/meshes.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { waitFor } from '../helpers/proc.js';

type Line = Record<string, unknown>;

async function accessLines(stateDir: string, proxy: string): Promise<Line[]> {
  let text: string;
  try {
    text = await readFile(join(stateDir, 'logs', `${proxy}.access.log`), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Sends raw bytes and returns everything the server sent back until it closed. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

describe('access log', () => {
  const pair = usePairMesh({ name: 'it-access-log', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'] });

  it('logs an exchange on both proxies with the identities of each side', async () => {
    const res = await request(`http://127.0.0.1:${pair.outPort}/logged/path?x=1`, { method: 'POST', body: 'hello', dispatcher: pair.agent });
    assert.equal(res.statusCode, 200);
    await res.body.dump();

    const out = await waitFor('a line for the request in a-0.access.log', async () =>
      (await accessLines(pair.mesh.stateDir, 'a-0')).find((l) => l['target'] === '/logged/path?x=1'),
    );
    assert.equal(out['direction'], 'outbound');
    assert.equal(out['method'], 'POST');
    assert.equal(out['status'], 200);
    assert.equal(out['upstream'], spiffeId('b'));
    assert.equal(out['bytesIn'], 5);
    assert.equal(out['reason'], undefined, 'an ordinary exchange carries no reason');

    const inb = await waitFor('a line for the request in b-0.access.log', async () =>
      (await accessLines(pair.mesh.stateDir, 'b-0')).find((l) => l['target'] === '/logged/path?x=1'),
    );
    assert.equal(inb['direction'], 'inbound');
    assert.equal(inb['status'], 200);
    assert.equal(inb['peerIdentity'], spiffeId('a'), JSON.stringify(inb));
  });

  it('a request the proxy refuses is logged with the reason it sent in trellis-reason', async () => {
    // Content-Length with Transfer-Encoding: a smuggling attempt, refused before any upstream.
    const reply = await rawExchange(
      pair.outPort,
      'POST /smuggle HTTP/1.1\r\nHost: b\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.match(reply, /\r\ntrellis-reason: bad-request\r\n/i);

    const line = await waitFor('a line with reason bad-request in a-0.access.log', async () =>
      (await accessLines(pair.mesh.stateDir, 'a-0')).find((l) => l['reason'] === 'bad-request'),
    );
    assert.equal(line['status'], 400);
    const inbound = await accessLines(pair.mesh.stateDir, 'b-0');
    assert.equal(inbound.find((l) => l['target'] === '/smuggle'), undefined, 'the refused request never reached b');
  });
});
