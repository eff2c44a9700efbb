// The API reference at /docs: Redoc, served by the binary, renders the
// server's own /openapi.json in real Chromium, with every request going to
// the server itself (deployments may have no internet) and no page error.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './harness.mjs';

let server;
let browser;
test.before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('/docs renders every operation of /openapi.json from the server alone', async () => {
  const page = await browser.context.newPage();
  const elsewhere = [];
  const errors = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(server.url) && !u.startsWith('blob:') && !u.startsWith('data:')) elsewhere.push(u);
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const r = await page.goto(`${server.url}/docs`);
  assert.equal(r.status(), 200);
  const doc = await (await fetch(`${server.url}/openapi.json`)).json();
  // The title and a few operations from each part of the document.
  await page.waitForSelector('h1:has-text("tidemark")', { timeout: 15_000 });
  for (const summary of ['Flush mutations, then catch up', 'Store an API key', 'Chat history (seed 003)', 'Catch up from a version', 'Liveness']) {
    await page.waitForSelector(`h2:has-text("${summary}")`, { timeout: 15_000 });
  }
  // Every operation has its heading.
  const headings = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent.trim()));
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      assert.ok(headings.includes(op.summary), `no heading for "${op.summary}"`);
    }
  }
  assert.deepEqual(elsewhere, [], 'the page loaded something from outside the server');
  assert.deepEqual(errors, [], 'the page logged errors');
  await page.close();
});
