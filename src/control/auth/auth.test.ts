import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJoinToken, encodeJoinToken } from '../../api/credentials.js';
import type { AgentReport } from '../../api/registry.js';
import { HttpError } from '../api/http-error.js';
import { agentReport, workload } from '../test-support.js';
import { checkBootstrap, checkReport, type AgentScopeContext } from './agent-scope.js';
import { readCookie } from './authenticate.js';
import { mayRun, normalizeServiceAccountPattern } from './host-policy.js';
import { decideAccess, type Access, type Principal } from './principal.js';
import { hashSecret, newSecretToken, parseSecretToken, secretMatches } from './secret-token.js';

describe('secret tokens', () => {
  it('are <16 hex>.<43 base64url>, stored as a hash that only the secret matches', () => {
    const t = newSecretToken();
    assert.match(t.text, /^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(parseSecretToken(` ${t.text}\n`), { id: t.id, secret: t.secret });
    const h = hashSecret(t.secret);
    assert.equal(secretMatches(h, t.secret), true);
    assert.equal(secretMatches(h, `${t.secret.slice(0, -1)}A` === t.secret ? `${t.secret.slice(0, -1)}B` : `${t.secret.slice(0, -1)}A`), false);
    assert.ok(!h.includes(t.secret));
    for (const bad of ['', 'abc', `${t.id}.${t.secret}x`, `${t.id.toUpperCase()}.${t.secret}`, `${t.id}:${t.secret}`]) assert.equal(parseSecretToken(bad), null, bad);
    assert.notEqual(newSecretToken().text, t.text);
  });
});

describe('host policy patterns', () => {
  it('normalizes [ns/]sa with * for any part; refuses the reserved namespace and junk', () => {
    assert.equal(normalizeServiceAccountPattern('web'), 'default/web');
    assert.equal(normalizeServiceAccountPattern('shop/*'), 'shop/*');
    assert.equal(normalizeServiceAccountPattern('*'), '*/*');
    assert.equal(normalizeServiceAccountPattern('*/web'), '*/web');
    for (const bad of ['trellis-system/control-plane', 'trellis-system/*', 'a/b/c', '', '../x', 'a b', 'ns/']) assert.equal(normalizeServiceAccountPattern(bad), null, bad);
  });

  it('mayRun matches namespace and service account, never trellis-system', () => {
    assert.equal(mayRun(['default/web'], 'default', 'web'), true);
    assert.equal(mayRun(['default/web'], 'default', 'db'), false);
    assert.equal(mayRun(['default/web'], 'shop', 'web'), false);
    assert.equal(mayRun(['shop/*'], 'shop', 'anything'), true);
    assert.equal(mayRun(['*/*'], 'x', 'y'), true);
    assert.equal(mayRun(['*/*'], 'trellis-system', 'control-plane'), false);
    assert.equal(mayRun([], 'default', 'web'), false);
  });
});

describe('decideAccess', () => {
  const principals: Record<string, Principal> = {
    anonymous: { kind: 'anonymous' },
    read: { kind: 'token', role: 'read', tokenId: 'r', name: 'r', via: 'header' },
    admin: { kind: 'token', role: 'admin', tokenId: 'a', name: 'a', via: 'header' },
    adminCookie: { kind: 'token', role: 'admin', tokenId: 'a', name: 'a', via: 'cookie' },
    localAgent: { kind: 'local-agent' },
    hostAgent: { kind: 'host-agent', host: 'h1' },
  };
  // access -> principals allowed (the rest: 401 for anonymous, 403 otherwise)
  const allowed: Record<Access, string[]> = {
    public: Object.keys(principals),
    'join-token': Object.keys(principals),
    'agent-certificate': Object.keys(principals),
    read: ['read', 'admin', 'adminCookie'],
    admin: ['admin'],
    agent: ['localAgent', 'hostAgent'],
  };
  it('grants each access to exactly its principals; 401 without a credential, 403 with the wrong one', () => {
    for (const [access, who] of Object.entries(allowed) as [Access, string[]][]) {
      for (const [name, p] of Object.entries(principals)) {
        const d = decideAccess(access, p);
        if (who.includes(name)) assert.deepEqual(d, { ok: true }, `${access} ${name}`);
        else assert.equal(!d.ok && d.status, name === 'anonymous' ? 401 : 403, `${access} ${name}`);
      }
    }
  });

  it('a refused credential says why in the 401', () => {
    const d = decideAccess('read', { kind: 'anonymous', refused: 'token 0123 expired at x' });
    assert.ok(!d.ok && d.message.startsWith('token 0123 expired at x; this needs a read or admin token'));
  });
});

describe('readCookie', () => {
  it('finds one cookie among several, by exact name', () => {
    assert.equal(readCookie('a=1; trellis-token-80=t.s; b=2', 'trellis-token-80'), 't.s');
    assert.equal(readCookie('trellis-token-8080=x', 'trellis-token-80'), null);
    assert.equal(readCookie(undefined, 'x'), null);
    assert.equal(readCookie('garbage', 'x'), null);
  });
});

describe('join token text', () => {
  it('round-trips, and says what is wrong with a damaged one', () => {
    const p = { token: 'id.secret', host: 'h1', caFingerprint: `sha256:${'a'.repeat(64)}`, addresses: ['https://10.0.0.1:15000'] };
    const text = encodeJoinToken(p);
    assert.match(text, /^trellis-join-1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeJoinToken(`${text}\n`), { ok: true, payload: p });
    assert.match((decodeJoinToken('abc') as { message: string }).message, /starts with "trellis-join-1\."/);
    assert.match((decodeJoinToken('trellis-join-1.!!!') as { message: string }).message, /damaged/);
    assert.match((decodeJoinToken(encodeJoinToken({ ...p, addresses: [] })) as { message: string }).message, /damaged/);
  });
});

describe('agent scope', () => {
  const ctx: AgentScopeContext = {
    policy: (host) => (host === 'h1' ? { host, serviceAccounts: ['default/web'], tokenId: 't', joinedAt: 0 } : undefined),
    nodeOwner: (nodeId) => (nodeId === 'default/web/0' ? 'h2' : undefined),
    reportedAccounts: (agentId) => (agentId === 'any' ? [{ namespace: 'default', serviceAccount: 'db' }] : agentId === 'quiet' ? [] : undefined),
    trustDomain: 'td',
  };
  const h1: Principal = { kind: 'host-agent', host: 'h1' };
  const local: Principal = { kind: 'local-agent' };
  const refusal = (f: () => void): string => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof HttpError && err.status === 403);
      return err.message;
    }
    return 'allowed';
  };
  const mine = (r: AgentReport): AgentReport => ({ ...r, workloads: r.workloads.map((w) => ({ ...w, replicas: w.replicas.map((x) => ({ ...x, nodeId: `h1/${x.nodeId}` })) })) });

  it('a joined host reports only its own id, identities and nodes', () => {
    assert.equal(refusal(() => checkReport(h1, 'h1', mine(agentReport('h1', [workload('web')])), ctx)), 'allowed');
    assert.match(refusal(() => checkReport(h1, 'h2', agentReport('h2', []), ctx)), /host h1 may not act for agent "h2"/);
    assert.match(refusal(() => checkReport(h1, 'h1', mine(agentReport('h1', [workload('db')])), ctx)), /host h1 may not run default\/db/);
    assert.match(refusal(() => checkReport(h1, 'h1', agentReport('h1', [workload('web')]), ctx)), /node default\/web\/0 is registered by agent h2/);
  });

  it('the local agent gets identities only of the workloads its report lists', () => {
    assert.match(refusal(() => checkBootstrap(local, 'any', 'default/victim/0', 'spiffe://td/ns/default/sa/victim', ctx)), /agent "any" runs no workload as default\/victim \(its report lists default\/db\)/);
    assert.match(refusal(() => checkBootstrap(local, 'quiet', 'n', 'spiffe://td/ns/default/sa/db', ctx)), /runs no workload as default\/db \(its report lists none\)/);
    assert.match(refusal(() => checkBootstrap(local, 'new', 'n', 'spiffe://td/ns/default/sa/db', ctx)), /agent "new" has sent no report/);
  });

  it('the local agent acts for anyone but never gets the reserved namespace', () => {
    assert.equal(refusal(() => checkReport(local, 'any', agentReport('any', [workload('db')]), ctx)), 'allowed');
    assert.equal(refusal(() => checkBootstrap(local, 'any', 'default/db/0', 'spiffe://td/ns/default/sa/db', ctx)), 'allowed');
    assert.match(refusal(() => checkBootstrap(local, 'any', 'n', 'spiffe://td/ns/trellis-system/sa/control-plane', ctx)), /reserved/);
    assert.match(refusal(() => checkReport(local, 'any', agentReport('any', [workload('x', { namespace: 'trellis-system' })]), ctx)), /reserved/);
    assert.match(refusal(() => checkBootstrap(h1, 'h1', 'n', 'spiffe://td/ns/default/sa/db', ctx)), /may not run default\/db/);
    assert.equal(refusal(() => checkBootstrap(h1, 'h1', 'h1/web/0', 'spiffe://td/ns/default/sa/web', ctx)), 'allowed');
  });
});
