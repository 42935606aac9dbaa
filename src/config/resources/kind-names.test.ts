import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { API_VERSION_OF, RESOURCE_KINDS } from '../../api/resources.js';
import { packageRoot } from '../../util/paths.js';
import { KIND_NAMES, kindFromName } from './kind-names.js';

/** The "kind | singular | plural | short" table of docs/configuration.md, as kind -> names. */
function documentedNames(): Map<string, { singular: string[]; plural: string[]; short: string[] }> {
  const md = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
  const at = md.indexOf('| kind | singular | plural | short |');
  assert.ok(at >= 0, 'docs/configuration.md has the kind names table');
  const out = new Map<string, { singular: string[]; plural: string[]; short: string[] }>();
  const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
  for (const line of md.slice(at).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [kind = '', singular = '', plural = '', short = ''] = line.split('|').slice(1).map((c) => c.trim());
    out.set(kind, { singular: names(singular), plural: names(plural), short: names(short) });
  }
  return out;
}

describe('resource kind names', () => {
  it('every documented singular, plural and short name of every kind is accepted', () => {
    const docs = documentedNames();
    assert.deepEqual([...docs.keys()].sort(), [...RESOURCE_KINDS].sort(), 'the table lists every kind');
    for (const kind of RESOURCE_KINDS) {
      const d = docs.get(kind)!;
      assert.equal(d.singular.length, 1, `${kind}: one singular`);
      assert.equal(d.plural.length, 1, `${kind}: one plural`);
      for (const name of [kind, kind.toUpperCase(), ...d.singular, ...d.plural, ...d.short]) assert.equal(kindFromName(name), kind, `"${name}" names ${kind}`);
      // The docs and the code list the same names, so neither can drift from the other.
      assert.deepEqual({ singular: d.singular[0], plural: d.plural[0], short: d.short }, { singular: KIND_NAMES[kind].singular, plural: KIND_NAMES[kind].plural, short: [...KIND_NAMES[kind].short] });
    }
  });

  it('English plurals: policy -> policies, not policys', () => {
    assert.equal(kindFromName('destinationpolicies'), 'DestinationPolicy');
    assert.equal(kindFromName('DestinationPolicies'), 'DestinationPolicy');
    assert.equal(kindFromName('destinationpolicys'), undefined);
    assert.equal(kindFromName('httproutes'), 'HTTPRoute');
    assert.equal(kindFromName('faultinjections'), 'FaultInjection');
  });

  it('names qualified by the API group, singular or plural', () => {
    for (const kind of RESOURCE_KINDS) {
      const group = API_VERSION_OF[kind].split('/')[0]!;
      assert.equal(kindFromName(`${KIND_NAMES[kind].singular}.${group}`), kind);
      assert.equal(kindFromName(`${KIND_NAMES[kind].plural}.${group}`), kind);
    }
  });

  it('anything else is no kind', () => {
    for (const name of ['', 'pods', 'route', 'policies', 'httproutess', 'dps', 'httproute.trellis.dev', 'constructor', '__proto__']) assert.equal(kindFromName(name), undefined, name);
  });
});
