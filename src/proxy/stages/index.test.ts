import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isStageRegistered } from '../pipeline/stage.js';
import { INBOUND_STACK, OUTBOUND_STACK } from './index.js';

test('every stage a stack names is registered by importing the stages', () => {
  for (const name of [...OUTBOUND_STACK, ...INBOUND_STACK]) assert.ok(isStageRegistered(name), name);
});

test('the stacks keep the order the design needs', () => {
  const at = (name: string): number => OUTBOUND_STACK.indexOf(name);
  assert.equal(OUTBOUND_STACK[0], 'normalize', 'routes and records see the normalized request');
  assert.equal(OUTBOUND_STACK[OUTBOUND_STACK.length - 1], 'endpoint');
  assert.ok(at('route') < at('fault') && at('fault') < at('request-timeout'));
  assert.ok(at('request-timeout') < at('retry') && at('retry') < at('try-timeout'), 'the whole deadline above retries, each try\'s below');
  assert.equal(INBOUND_STACK[0], 'normalize');
  assert.equal(INBOUND_STACK[INBOUND_STACK.length - 1], 'endpoint');
  for (const outboundOnly of ['route', 'fault', 'retry', 'try-timeout', 'mirror']) assert.ok(!INBOUND_STACK.includes(outboundOnly), outboundOnly);
  const inb = (name: string): number => INBOUND_STACK.indexOf(name);
  assert.ok(inb('normalize') < inb('authz'), 'policies see the normalized path');
  assert.ok(inb('observe') < inb('authz') && inb('drain') < inb('authz'), 'refusals are recorded; a draining proxy answers draining first');
  assert.ok(inb('authz') < inb('ratelimit'), 'a refused caller takes nothing from a bucket');
  assert.ok(inb('ratelimit') < inb('endpoint'));
  for (const inboundOnly of ['authz', 'ratelimit']) assert.ok(!OUTBOUND_STACK.includes(inboundOnly), inboundOnly);
});
