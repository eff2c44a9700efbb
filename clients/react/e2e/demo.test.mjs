// The React demo page (/demo/react, served with --dev) in real Chromium: it
// loads the committed bundle and the server's own client through its import
// map, signs in, and its settings, model choices and catalog notices go
// through the real server (checked over HTTP, independently of the browser).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, token, api, state, waitFor, REPO } from './react.mjs';

const f = fixture({ app: false });

async function openReactDemo(user) {
  const page = await f.context.newPage();
  page.setDefaultTimeout(15_000);
  const requested = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(`${f.server.url}/demo/react`);
  await page.waitForSelector('[data-testid=signin-name], [data-testid=user]');
  if (await page.isVisible('[data-testid=signout]')) await page.click('[data-testid=signout]'); // signed in before, as someone else
  await page.fill('[data-testid=signin-name]', user);
  await page.click('[data-testid=signin-submit]');
  await page.waitForSelector('[data-testid=user]');
  assert.equal(await page.textContent('[data-testid=user]'), user);
  await page.waitForFunction(() => window.demo && window.demo.client.status === 'synced', null, { polling: 50 });
  await page.waitForSelector('[data-testid=provider-openai]');
  return { page, requested };
}

test('/demo/react is served (with --dev) from the committed bundle, which leaves the client to /client/tidemark.js, with the plain demo\'s stylesheet', async () => {
  const html = await fetch(`${f.server.url}/demo/react`);
  assert.equal(html.status, 200);
  assert.match(html.headers.get('content-type'), /^text\/html/);
  assert.match(await html.text(), /"tidemark-client": "\/client\/tidemark.js"/);
  const js = await fetch(`${f.server.url}/demo/react/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const body = await js.text();
  assert.equal(body, fs.readFileSync(path.join(REPO, 'clients/demo/react/app.js'), 'utf8'), 'the binary serves the committed bundle (rebuild the server)');
  assert.match(body, /from"tidemark-client"/);
  assert.doesNotMatch(body, /the client is closed/, 'the bundle must not carry its own copy of the client');
  // The stylesheet is the plain demo's <style> element.
  const css = await fetch(`${f.server.url}/demo/react/demo.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  const plain = fs.readFileSync(path.join(REPO, 'clients/demo/index.html'), 'utf8');
  assert.equal(await css.text(), plain.slice(plain.indexOf('<style>') + '<style>'.length, plain.indexOf('</style>')));
});

test('the React demo signs in, and a settings change and a model choice made there are on the server', async () => {
  const user = 'rx-demo';
  const { page, requested } = await openReactDemo(user);
  assert.ok(requested.includes('/client/tidemark.js'), `the import map loads the server's client: ${requested}`);
  const tok = await token(f.server, user);

  await page.check('[data-testid=theme-dark]');
  await page.fill('[data-testid=language]', 'pt-BR');
  await page.waitForSelector('[data-testid=settings-status][data-status=unsaved]');
  const ui = await waitFor(async () => {
    const v = (await state(f.server, tok)).docs.get('settings/ui')?.value;
    return v && v.language === 'pt-BR' && v;
  }, { what: 'the settings on the server' });
  assert.equal(ui.theme, 'dark');
  await page.waitForSelector('[data-testid=settings-status][data-status=synced]');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');

  await page.check('[data-testid="model-toggle-gpt-4o"]');
  const prefs = await waitFor(async () => (await state(f.server, tok)).docs.get('model_preferences/openai')?.value, { what: 'the model choice on the server' });
  assert.deepEqual(prefs.enabled_models, ['gpt-4o']);

  // A reload: still signed in, the settings come back from the server.
  await page.reload();
  await page.waitForSelector('[data-testid=provider-openai]');
  await page.waitForFunction(() => document.querySelector('[data-testid=language]').value === 'pt-BR');
  assert.equal(await page.isChecked('[data-testid="model-toggle-gpt-4o"]'), true);
  await page.close();
});

test('the React demo shows a deprecation and a provider status change as they happen', async () => {
  const { page } = await openReactDemo('rx-demo-catalog');
  const patch = async (collection, id, value) => assert.equal((await api(f.server, f.admin, 'PATCH', `/v1/spaces/catalog/docs/${collection}/${encodeURIComponent(id)}`, value)).status, 200);
  await patch('models', 'gpt-4o-mini', { deprecation_status: 'deprecated', replacement_model_id: 'gpt-4o', sunset_date: '2099-01-01' });
  await page.waitForSelector('[data-testid=notice]:has-text("GPT-4o mini is now deprecated: switch to gpt-4o.")');
  assert.match(await page.textContent('[data-testid=deprecation-gpt-4o-mini]'), /^deprecated · use GPT-4o · sunset in \d+ days$/);
  await patch('providers', 'openai', { status: 'degraded' });
  await page.waitForSelector('[data-testid=notice][data-kind=warn]:has-text("OpenAI is degraded.")');
  assert.equal(await page.textContent('[data-testid=provider-status-openai]'), 'degraded');
  await page.close();
});
