import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SniTable } from './sni-table.js';

const table = new SniTable(
  [
    { names: ['shop.example.com', '*.shop.example.com'], value: 'shop' },
    { names: ['API.example.com'], value: 'api' },
    { names: ['shop.example.com', '*.example.com'], value: 'catch' },
  ],
  'default',
);

test('exact names, case-insensitive, a trailing dot ignored; the first entry keeps a name two claim', () => {
  assert.equal(table.lookup('shop.example.com'), 'shop');
  assert.equal(table.lookup('SHOP.Example.COM'), 'shop');
  assert.equal(table.lookup('shop.example.com.'), 'shop');
  assert.equal(table.lookup('api.example.com'), 'api');
});

test('a wildcard covers exactly one label, and loses to an exact name', () => {
  assert.equal(table.lookup('www.shop.example.com'), 'shop');
  assert.equal(table.lookup('a.b.shop.example.com'), 'default');
  assert.equal(table.lookup('other.example.com'), 'catch');
  assert.equal(table.lookup('api.example.com'), 'api');
  assert.equal(table.lookup('example.com'), 'default');
});

test('no name, an unknown name, or hostile input gets the default', () => {
  for (const n of [undefined, '', '.', '*', '*.example.com.evil', 'x'.repeat(5000), 'shop.example.com\u0000', 'shop.example.com:443']) {
    assert.equal(table.lookup(n), 'default', String(n).slice(0, 20));
  }
  assert.equal(table.has('www.shop.example.com'), true);
  assert.equal(table.has('nope.test'), false);
});
