// The wire types of tidemark.d.ts against the JSON Schemas the server
// generates from its Rust types (proto-schema/*.json): same field names, and
// a field the schema requires is never optional in the d.ts. A d.ts field may
// be non-optional where the schema does not require it only if the schema
// allows null (serde `Option` fields the server always sends, maybe as null).
// Every tagged variant of a schema (op, status, kind, type) needs its d.ts type.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const schemaDir = join(here, '..', '..', '..', 'proto-schema');
const dts = readFileSync(join(here, '..', 'tidemark.d.ts'), 'utf8');
const haveSchemas = existsSync(schemaDir) && readdirSync(schemaDir).some((f) => f.endsWith('.json'));

/** `name?: type; ...` member list -> Map(name -> optional). */
function members(body) {
  const clean = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Map();
  // members are `name?: type;` at depth 0 of the body (nested types stay on one line)
  let depth = 0;
  let cur = '';
  const flush = () => {
    const m = cur.trim().match(/^(\w+)(\?)?\s*:/);
    if (m) out.set(m[1], !!m[2]);
    cur = '';
  };
  for (const ch of clean) {
    if (ch === '{' || ch === '(' || ch === '[' || ch === '<') depth++;
    if (ch === '}' || ch === ')' || ch === ']' || ch === '>') depth--;
    if (depth === 0 && (ch === ';' || ch === '\n')) flush();
    else cur += ch;
  }
  flush();
  return out;
}

/** Interfaces (with `extends`) and unions of object literals of the d.ts. */
function parseDts(src) {
  const types = new Map();
  const bases = new Map();
  for (const m of src.matchAll(/export interface (\w+)(?: extends (\w+))? \{([\s\S]*?)\n\}/g)) {
    types.set(m[1], members(m[3]));
    if (m[2]) bases.set(m[1], m[2]);
  }
  for (const [name, base] of bases) for (const [k, v] of types.get(base) || []) if (!types.get(name).has(k)) types.get(name).set(k, v);
  const unions = new Map();
  for (const m of src.matchAll(/export type (\w+) =([\s\S]*?);\n/g)) {
    const literals = [...m[2].matchAll(/\{([^{}]*)\}/g)].map((x) => members(x[1].replace(/;/g, ';\n')));
    if (literals.length) unions.set(m[1], literals);
  }
  return { types, unions };
}

const { types, unions } = parseDts(dts);

function load(file) {
  return JSON.parse(readFileSync(join(schemaDir, file), 'utf8'));
}

function nullable(prop) {
  if (!prop || typeof prop !== 'object') return false;
  if (Array.isArray(prop.type) && prop.type.includes('null')) return true;
  if (prop.type === 'null') return true;
  if (!('type' in prop) && !('$ref' in prop) && !('anyOf' in prop) && !('oneOf' in prop)) return true; // any JSON value
  return (prop.anyOf || prop.oneOf || []).some((p) => p.type === 'null');
}

function check(label, schemaObj, dtsMembers) {
  assert.ok(dtsMembers, `${label}: no d.ts type`);
  const props = schemaObj.properties || {};
  const required = new Set(schemaObj.required || []);
  assert.deepEqual([...dtsMembers.keys()].sort(), Object.keys(props).sort(), `${label}: field names differ`);
  for (const [name, optional] of dtsMembers) {
    if (required.has(name)) assert.equal(optional, false, `${label}.${name} is required by the schema but optional in the d.ts`);
    else if (!optional) assert.ok(nullable(props[name]), `${label}.${name} is optional in the schema but required in the d.ts`);
  }
}

/** The tag (`const`) of a oneOf variant. */
function tagOf(variant, tag) {
  const p = variant.properties && variant.properties[tag];
  return p && (p.const ?? (p.enum && p.enum.length === 1 ? p.enum[0] : undefined));
}

const PLAIN = {
  'cursor.json': 'Cursor',
  'doc.json': 'Doc',
  'event.json': 'Event',
  'http-error.json': 'ErrorBody',
  'http-state.json': 'SpaceState',
  'http-sync-request.json': 'SyncRequest',
  'http-sync-response.json': 'SyncResponse',
  'http-version.json': 'VersionInfo',
  'mutation.json': 'Mutation',
  'ws-event-frame.json': 'EventMsg',
};

// Domain documents and lockbox/model-config bodies: generated into the d.ts by
// gen-domain-types.py, which records which file each type comes from.
const domainMap = dts.match(/export type DomainSchemaFiles = (\{.*\});/);
const DOMAIN = domainMap ? JSON.parse(domainMap[1]) : {};
Object.assign(PLAIN, DOMAIN);

const DEFS = { Origin: 'Origin', ErrorDetail: 'ErrorDetail', WsLimits: 'WsLimits', Cursor: 'Cursor', Doc: 'Doc', Doc2: 'Doc', Event: 'Event', Mutation: 'Mutation' };

const TAGGED = {
  'mutation-result.json': { tag: 'status', map: { ack: 'MutationAck', reject: 'MutationReject' } },
  'catch-up.json': { tag: 'kind', map: { snapshot: 'CatchUpSnapshot', events: 'CatchUpEvents', up_to_date: 'CatchUpUpToDate' } },
  'ws-client-message.json': { tag: 'type', map: { hello: 'HelloMsg', auth: 'AuthMsg', mutate: 'MutateMsg', ping: 'PingMsg' } },
  'ws-server-message.json': {
    tag: 'type',
    map: { welcome: 'WelcomeMsg', snapshot: 'SnapshotMsg', events: 'EventsMsg', up_to_date: 'UpToDateMsg', ack: 'AckMsg', reject: 'RejectMsg', pong: 'PongMsg', error: 'ErrorMsg', revoked: 'RevokedMsg' },
  },
};

test('proto-schema/ is present', { skip: haveSchemas ? false : 'no proto-schema/*.json yet' }, () => {
  const files = readdirSync(schemaDir).filter((f) => f.endsWith('.json'));
  // openapi.json describes the HTTP API (tests/openapi.rs checks it), not a wire type.
  const known = new Set([...Object.keys(PLAIN), ...Object.keys(TAGGED), 'op.json', 'openapi.json']);
  assert.deepEqual(files.filter((f) => !known.has(f)), [], 'a schema file the d.ts does not cover');
});

test('plain wire types match their schemas', { skip: !haveSchemas }, () => {
  for (const [file, name] of Object.entries(PLAIN)) {
    if (!existsSync(join(schemaDir, file))) continue;
    const s = load(file);
    check(`${file} ${name}`, s, types.get(name));
    for (const [def, schema] of Object.entries(s.$defs || {})) {
      if (DEFS[def] && schema.properties) check(`${file} $defs.${def}`, schema, types.get(DEFS[def]));
    }
  }
});

test('tagged unions match variant by variant', { skip: !haveSchemas }, () => {
  for (const [file, { tag, map }] of Object.entries(TAGGED)) {
    if (!existsSync(join(schemaDir, file))) continue;
    const s = load(file);
    const seen = [];
    for (const v of s.oneOf) {
      const t = tagOf(v, tag);
      assert.ok(t !== undefined, `${file}: a variant without a \`${tag}\` tag`);
      assert.ok(map[t], `${file}: variant ${tag}=${t} has no d.ts type`);
      check(`${file} ${map[t]}`, v, types.get(map[t]));
      seen.push(t);
    }
    assert.deepEqual(seen.sort(), Object.keys(map).sort(), `${file}: d.ts types without a schema variant`);
    for (const [def, schema] of Object.entries(s.$defs || {})) {
      if (DEFS[def] && schema.properties) check(`${file} $defs.${def}`, schema, types.get(DEFS[def]));
    }
  }
});

test('Op variants match', { skip: !haveSchemas }, () => {
  const s = load('op.json');
  const variants = unions.get('Op');
  assert.ok(variants, 'd.ts has no Op union');
  assert.equal(variants.length, s.oneOf.length);
  for (const v of s.oneOf) {
    const t = tagOf(v, 'op');
    const mine = variants.find((m) => m.has('op') && dts.includes(`{ op: '${t}';`));
    assert.ok(mine, `op ${t} missing in d.ts`);
    const idx = s.oneOf.indexOf(v);
    check(`op.json ${t}`, v, variants[idx]);
  }
});

test('the d.ts parser reads members and optionality', () => {
  const m = members(`\n  a: string;\n  /** doc */\n  b?: { [k: string]: number | null };\n  c: 'x' | 'y';\n`);
  assert.deepEqual([...m], [['a', false], ['b', true], ['c', false]]);
  assert.deepEqual([...types.get('Cursor').keys()], ['epoch', 'version']);
  assert.equal(types.get('EventMsg').has('origin'), true, 'extends is followed');
});
