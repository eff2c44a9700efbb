// The React demo page's bundle (clients/demo/react/app.js, compiled into the
// server) is what `npm run build:demo` makes from the current sources.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDemo, DEMO_BUNDLE } from '../scripts/build-demo.mjs';

test('the committed demo bundle is up to date (else: run npm run build:demo in clients/react)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-demo-bundle-'));
  try {
    const fresh = fs.readFileSync(await buildDemo(path.join(dir, 'app.js')), 'utf8');
    const committed = fs.readFileSync(DEMO_BUNDLE, 'utf8');
    assert.ok(fresh === committed, `clients/demo/react/app.js differs from a fresh build of clients/demo/react/app.jsx (${committed.length} vs ${fresh.length} bytes): run npm run build:demo in clients/react, then rebuild the server`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
