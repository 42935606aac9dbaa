import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandEnv, expandReferences, lookupIn } from './expand.js';

const VARS = { PORT: '4001', CATALOG_ADDR: '127.0.0.1:5001', EMPTY: '', 'WEIRD NAME': 'w' };
const x = (s: string): string => expandReferences(s, lookupIn(VARS));

describe('$(VAR) references (Kubernetes rules)', () => {
  it('a defined reference becomes its value, anywhere in the string, as often as it appears', () => {
    assert.equal(x('$(PORT)'), '4001');
    assert.equal(x('--listen=127.0.0.1:$(PORT)'), '--listen=127.0.0.1:4001');
    assert.equal(x('http://$(CATALOG_ADDR)/api?p=$(PORT)&q=$(PORT)'), 'http://127.0.0.1:5001/api?p=4001&q=4001');
    assert.equal(x('$(PORT)$(PORT)'), '40014001');
    assert.equal(x('[$(EMPTY)]'), '[]');
  });

  it('an unknown reference stays as written', () => {
    assert.equal(x('$(NOPE)'), '$(NOPE)');
    assert.equal(x('a $(NOPE) b $(PORT)'), 'a $(NOPE) b 4001');
    assert.equal(x('$()'), '$()');
    assert.equal(x('$(constructor) $(__proto__) $(toString)'), '$(constructor) $(__proto__) $(toString)');
  });

  it('$$ is a literal $: $$(VAR) is never expanded, defined or not', () => {
    assert.equal(x('$$(PORT)'), '$(PORT)');
    assert.equal(x('$$(NOPE)'), '$(NOPE)');
    assert.equal(x('price: 5$$'), 'price: 5$');
    assert.equal(x('$$$$'), '$$');
    assert.equal(x('$$$(PORT)'), '$4001');
    assert.equal(x('$$$$(PORT)'), '$$(PORT)');
  });

  it('a $ that starts no reference stays: shell syntax passes through untouched', () => {
    assert.equal(x('$PORT'), '$PORT');
    assert.equal(x('${PORT}'), '${PORT}');
    assert.equal(x('exec node server.js "$PORT"'), 'exec node server.js "$PORT"');
    assert.equal(x('cost $5'), 'cost $5');
    assert.equal(x('trailing $'), 'trailing $');
    assert.equal(x('$'), '$');
    assert.equal(x(''), '');
  });

  it('an unclosed $( stays, and what follows it is still scanned', () => {
    assert.equal(x('$(PORT'), '$(PORT');
    assert.equal(x('a $(b $$ c'), 'a $(b $ c');
  });

  it('the name is everything up to the first ")", as Kubernetes reads it', () => {
    assert.equal(x('$(WEIRD NAME)'), 'w');
    assert.equal(x('$(PORT))'), '4001)');
    // The first ")" closes it, so the name here is "$(PORT", which is not defined.
    assert.equal(x('$($(PORT)'), '$($(PORT)');
    assert.equal(x('$(PORT $(PORT)'), '$(PORT $(PORT)');
  });

  it('a value is not scanned again (no recursion)', () => {
    assert.equal(expandReferences('$(A)', lookupIn({ A: '$(B)', B: 'b' })), '$(B)');
    assert.equal(expandReferences('$(A)', lookupIn({ A: '$$' })), '$$');
  });
});

describe('env values', () => {
  it("Kubernetes' dependent-envars example gives Kubernetes' results", () => {
    // kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
    const env = expandEnv(
      {
        SERVICE_PORT: '80',
        SERVICE_IP: '172.17.0.1',
        UNCHANGED_REFERENCE: '$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)',
        PROTOCOL: 'https',
        SERVICE_ADDRESS: '$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)',
        ESCAPED_REFERENCE: '$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)',
      },
      {},
    );
    assert.equal(env.UNCHANGED_REFERENCE, '$(PROTOCOL)://172.17.0.1:80');
    assert.equal(env.SERVICE_ADDRESS, 'https://172.17.0.1:80');
    assert.equal(env.ESCAPED_REFERENCE, '$(PROTOCOL)://172.17.0.1:80');
  });

  it('values see what the mesh assigns, and variables listed before them; a variable the mesh assigns wins', () => {
    const env = expandEnv({ PORT: '9999', SELF: 'http://127.0.0.1:$(PORT)', API: 'http://$(CATALOG_ADDR)/v1', LATER: '$(AFTER)', AFTER: 'a', LOOP: '$(LOOP)' }, { PORT: '4001', CATALOG_ADDR: '127.0.0.1:5001' });
    assert.equal(env.SELF, 'http://127.0.0.1:4001');
    assert.equal(env.API, 'http://127.0.0.1:5001/v1');
    assert.equal(env.LATER, '$(AFTER)');
    assert.equal(env.LOOP, '$(LOOP)');
  });
});
