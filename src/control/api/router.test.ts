import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from './http-error.js';
import { matchRoute, type Route } from './router.js';

const r = (method: Route<null>['method'], path: string): Route<null> => ({ method, path, access: 'public', handle: () => undefined });
const ROUTES = [r('GET', '/api/v1/proxies/:nodeId/snapshot'), r('GET', '/api/v1/resources'), r('GET', '/api/v1/resources/:kind'), r('*', '/v1/traces'), r('GET', '/'), r('GET', '/dashboard/*')];
const find = (method: string, path: string): string | undefined => {
  const m = matchRoute(ROUTES, method, path);
  return m === undefined ? undefined : `${m.route.path} ${JSON.stringify(m.params)}`;
};

describe('matchRoute', () => {
  it('matches segments, decodes parameters after splitting (an encoded slash stays in its segment)', () => {
    assert.equal(find('GET', '/api/v1/proxies/default%2Fweb%2F0/snapshot'), '/api/v1/proxies/:nodeId/snapshot {"nodeId":"default/web/0"}');
    assert.equal(find('GET', '/api/v1/proxies/default/web/0/snapshot'), undefined);
    assert.equal(find('GET', '/api/v1/resources/'), '/api/v1/resources {}');
    assert.equal(find('GET', '/api/v1/resources/httproutes'), '/api/v1/resources/:kind {"kind":"httproutes"}');
    assert.equal(find('POST', '/api/v1/resources'), undefined, 'method must match');
    assert.equal(find('DELETE', '/v1/traces'), '/v1/traces {}');
    assert.equal(find('GET', '/'), '/ {}');
    assert.equal(find('GET', '/dashboard'), '/dashboard/* {"*":""}');
    assert.equal(find('GET', '/dashboard/app.js'), '/dashboard/* {"*":"app.js"}');
    assert.equal(find('GET', '/dashboardx'), undefined);
    assert.equal(find('GET', '/api/v1/proxies//snapshot'), undefined, 'an empty parameter is no match');
  });

  it('a bad escape is a 400, not a crash', () => {
    assert.throws(() => matchRoute(ROUTES, 'GET', '/api/v1/resources/%zz'), (e: unknown) => e instanceof HttpError && e.status === 400);
  });
});
