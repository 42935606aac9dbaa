import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../util/paths.js';
import { API_ROUTES } from './routes.js';

const NEEDS: Record<string, string> = { public: 'nothing', 'join-token': 'join token', read: 'read', admin: 'admin', agent: 'agent', 'agent-certificate': 'host certificate' };

test('docs/operations.md lists every REST route with what it needs, and nothing else', () => {
  const doc = readFileSync(join(packageRoot, 'docs', 'operations.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| (GET|PUT|POST|DELETE|\*) \| `([^`]+)` \| ([^|]+) \|/gm)].map((m) => `${m[1]} ${m[2]} ${(m[3] as string).trim()}`);
  const routes = API_ROUTES.map((r) => `${r.method} ${r.path} ${NEEDS[r.access]}`);
  assert.deepEqual(rows.sort(), routes.sort());
});
