import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingHandler, exchange } from '../testing/stage-harness.js';
import type { Exchange } from './exchange.js';
import type { ResponseHandler, Service } from './service.js';
import { buildPipeline, isStageRegistered, pipelineOf, registerStage } from './stage.js';
import type { Stage } from './stage.js';

/** Test stages record their calls and finishes in one shared log. */
interface Ctx {
  log: string[];
  /** Stage names whose configure returns null. */
  off: Set<string>;
}

let seq = 0;
/** Registers a stage under a name no other test uses (the registry is process-wide). */
function define(tag: string, opts: { finish?: boolean; throwInFinish?: boolean } = {}): string {
  const name = `test-${tag}-${seq++}`;
  registerStage<Ctx, { log: string[] }>({
    name,
    configure: (ctx) => (ctx.off.has(tag) ? null : { log: ctx.log }),
    create: (config, next): Stage => {
      const s: Stage = {
        call(ex: Exchange, h: ResponseHandler): void {
          config.log.push(`call ${tag}`);
          next.call(ex, h);
        },
      };
      if (opts.finish === true || opts.throwInFinish === true) {
        s.finish = (): void => {
          config.log.push(`finish ${tag}`);
          if (opts.throwInFinish === true) throw new Error(`finisher ${tag} failed`);
        };
      }
      return s;
    },
  });
  return name;
}

test('a stage name registered twice is refused', () => {
  const name = define('twice');
  assert.ok(isStageRegistered(name));
  assert.throws(() => registerStage({ name, configure: () => ({}), create: (_c, next) => next }), /registered twice/);
});

test('an unknown stage name is refused when the pipeline is built', () => {
  const a = define('a');
  assert.throws(() => buildPipeline([a, 'no-such-stage'], { log: [], off: new Set() }), /no stage "no-such-stage"/);
});

test('stages run first name first; a stack without a terminal stage answers 500 internal-error', () => {
  const ctx: Ctx = { log: [], off: new Set() };
  const p = buildPipeline([define('a'), define('b'), define('c')], ctx);
  const h = new RecordingHandler();
  p.service.call(exchange(), h);
  assert.deepEqual(ctx.log, ['call a', 'call b', 'call c']);
  assert.equal(h.local.status, 500);
  assert.equal(h.local.reason, 'internal-error');
  assert.equal(h.local.grpcStatus, 13, 'gRPC callers get INTERNAL');
});

test('a stage whose configure returns null is left out of the stack and of finish', () => {
  const ctx: Ctx = { log: [], off: new Set(['b2']) };
  const p = buildPipeline([define('a2', { finish: true }), define('b2', { finish: true }), define('c2', { finish: true })], ctx);
  p.service.call(exchange(), new RecordingHandler());
  p.finish(exchange());
  assert.deepEqual(ctx.log, ['call a2', 'call c2', 'finish c2', 'finish a2']);
});

test('finish runs every stage that has one, last stage first; a throwing finisher does not stop the others', () => {
  const ctx: Ctx = { log: [], off: new Set() };
  const p = buildPipeline(
    [define('f1', { finish: true }), define('f2'), define('f3', { throwInFinish: true }), define('f4', { finish: true })],
    ctx,
  );
  const ex = exchange();
  assert.doesNotThrow(() => p.finish(ex));
  assert.deepEqual(ctx.log, ['finish f4', 'finish f3', 'finish f1']);
});

test('pipelineOf: the given service, and finish over the given stages only', () => {
  const log: string[] = [];
  const service: Service = { call: () => log.push('service') };
  const stages: Stage[] = [
    { call: () => {}, finish: () => log.push('s0') },
    { call: () => {} },
    { call: () => {}, finish: () => log.push('s2') },
  ];
  const p = pipelineOf(service, stages);
  assert.equal(p.service, service);
  p.finish(exchange());
  assert.deepEqual(log, ['s2', 's0']);
});
