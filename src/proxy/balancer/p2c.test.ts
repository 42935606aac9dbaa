import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { newLoadRecord } from './load-record.js';
import { powerOfTwo } from './p2c.js';
import type { Balanced } from './types.js';

interface Named extends Balanced {
  readonly name: string;
  readonly weight: number;
}

const ep = (name: string, weight: number): Named => ({ name, key: name, weight, load: newLoadRecord() });
const lighter = (a: Named, b: Named): boolean => b.weight < a.weight;

function seq(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** What powerOfTwo promises, written the obvious way (with a filtered copy). */
function reference(endpoints: readonly Named[], exclude: ReadonlySet<Named>, r1: number, r2: number): Named | undefined {
  const c = endpoints.filter((e) => !exclude.has(e));
  if (c.length === 0) return undefined;
  if (c.length === 1) return c[0];
  const i = Math.floor(r1 * c.length);
  let j = Math.floor(r2 * (c.length - 1));
  if (j >= i) j += 1;
  return lighter(c[i]!, c[j]!) ? c[j] : c[i];
}

test('p2c with an exclude set picks exactly what a filtered copy would', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 9 }),
      fc.array(fc.boolean(), { maxLength: 9 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      fc.boolean(),
      (weights, excluded, r1, r2, strangers) => {
        const eps = weights.map((w, i) => ep(`e${i}`, w));
        const exclude = new Set(eps.filter((_, i) => excluded[i] === true));
        if (strangers) exclude.add(ep('removed-endpoint', 0)); // an exclude set may name endpoints no longer listed
        const got = powerOfTwo(eps, exclude, { random: seq([r1, r2]), now: () => 0 }, lighter);
        assert.equal(got, reference(eps, exclude, r1, r2));
      },
    ),
  );
});

test('p2c never copies the endpoint list, with or without an exclude set', () => {
  const list = [ep('a', 3), ep('b', 1), ep('c', 2)];
  const noCopies = Object.assign([...list], {
    filter(): never {
      throw new Error('pick copied the endpoint list');
    },
    slice(): never {
      throw new Error('pick copied the endpoint list');
    },
  });
  const deps = { random: seq([0.1, 0.9, 0.5, 0.2]), now: () => 0 };
  for (let k = 0; k < 20; k++) {
    const picked = powerOfTwo(noCopies, new Set([list[1]!]), deps, lighter);
    assert.ok(picked === list[0] || picked === list[2]);
  }
  assert.equal(powerOfTwo(noCopies, new Set(list), deps, lighter), undefined);
  assert.equal(powerOfTwo(noCopies, new Set([list[0]!, list[2]!]), deps, lighter), list[1]);
});
