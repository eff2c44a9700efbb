// Every runtime export has a hand-written declaration, and every declared value exists.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

function declared(file) {
  const src = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
  return [...src.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]).sort();
}

for (const [entry, { types, default: js }] of Object.entries(pkg.exports).filter(([k]) => k !== './package.json')) {
  test(`${entry}: runtime exports = declared exports`, async () => {
    const mod = await import(new URL(`.${js.slice(1)}`, new URL('../', import.meta.url)));
    const names = [...new Set(declared(types.slice('./src/'.length)))].sort();
    assert.deepEqual(Object.keys(mod).sort(), names);
  });
}
