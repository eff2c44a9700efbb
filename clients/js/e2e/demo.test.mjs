// The demo settings page itself: the catalog's provider status and model
// deprecation warnings with their replacements (live), API keys shown by
// their last 4 characters only, a lockbox-less server, and the sync badge.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, api, state, docValue } from './harness.mjs';

let server; // with a lockbox master key
let bare; // without one
let browser;
let admin;
test.before(async () => {
  [server, bare] = await Promise.all([startServer({ lockbox: true }), startServer()]);
  admin = await loadCatalog(server);
  await loadCatalog(bare);
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  for (const s of [server, bare]) if (s) await s.stop();
});

const text = (page, testid) => page.innerText(`[data-testid="${testid}"]`);

test('providers show their status and fallback, deprecated models their replacement, and catalog changes arrive live', async () => {
  const user = 'demo-ivan';
  const page = await openDemo(browser.context, server, user);
  await waitSynced(page);
  await page.waitForSelector('[data-testid=provider-openrouter]');
  const tok = await token(server, user);

  assert.equal(await text(page, 'provider-status-openai'), 'available');
  assert.equal(await page.$('[data-testid=provider-warning-openai]'), null);
  assert.equal(await text(page, 'provider-status-anthropic'), 'degraded');
  assert.match(await text(page, 'provider-warning-anthropic'), /Anthropic is degraded.*Requests fall back to OpenAI/s);
  assert.match(await text(page, 'provider-warning-openrouter'), /OpenRouter is unavailable right now\. Requests fall back to OpenAI/);

  assert.match(await text(page, 'deprecation-gpt-4'), /Deprecated since Jun 1, 2026; shuts down on Jun 1, 2027\. Suggested replacement: GPT-4o \(gpt-4o\)\./);
  assert.match(await text(page, 'deprecation-gpt-3.5-turbo'), /Shut down on Jan 1, 2026: no longer available\. Suggested replacement: GPT-4o mini/);
  assert.equal(await page.isDisabled('[data-testid="model-toggle-gpt-3.5-turbo"]'), true, 'a sunset model cannot be turned on');
  assert.equal(await page.$('[data-testid="deprecation-gpt-4o"]'), null);

  // Taking the suggested replacement: one click, one write.
  await page.check('[data-testid="model-toggle-gpt-4"]');
  await page.click('[data-testid="replace-gpt-4"]:has-text("Switch to GPT-4o")');
  await page.waitForFunction(() => window.demo.client.pendingCount === 0 && window.demo.client.status === 'synced');
  assert.deepEqual((await docValue(server, tok, 'model_preferences', 'openai')).enabled_models, ['gpt-4o']);
  assert.equal(await page.isChecked('[data-testid="model-toggle-gpt-4o"]'), true);
  assert.equal(await page.isChecked('[data-testid="model-toggle-gpt-4"]'), false);

  // OpenAI becomes the default provider, then goes down: the page warns and offers the fallback.
  await page.click('[data-testid=make-default-openai]');
  await page.waitForSelector('[data-testid=preferred-openai]');
  await api(server, admin, 'PATCH', '/v1/spaces/catalog/docs/providers/openai', { status: 'unavailable' });
  await api(server, admin, 'PATCH', `/v1/spaces/catalog/docs/models/${encodeURIComponent('gpt-4o')}`, { deprecation_status: 'deprecated', deprecation_date: '2026-11-01', replacement_model_id: 'gpt-4o-mini' });
  await page.waitForSelector('[data-testid=provider-warning-openai]:has-text("OpenAI is unavailable right now. Requests fall back to Anthropic.")', { timeout: 5000 });
  await page.waitForSelector('[data-testid="deprecation-gpt-4o"]:has-text("Suggested replacement: GPT-4o mini")', { timeout: 5000 });
  await page.click('[data-testid=use-fallback-openai]');
  await page.waitForSelector('[data-testid=preferred-anthropic]');
  await page.waitForFunction(() => window.demo.client.pendingCount === 0);
  assert.equal((await docValue(server, tok, 'model_config', 'current')).preferred_provider, 'anthropic');
  await api(server, admin, 'PATCH', '/v1/spaces/catalog/docs/providers/openai', { status: 'available' });
  await page.waitForFunction(() => document.querySelector('[data-testid=provider-warning-openai]') === null, null, { timeout: 5000 });
  await page.close();
});

test('an API key is stored through the lockbox and shown by its last 4 characters only', async () => {
  const user = 'demo-judy';
  const lb = await api(server, await token(server, user), 'GET', '/v1/lockbox');
  assert.equal(lb.status, 200, `a server with TIDEMARK_MASTER_KEYS serves GET /v1/lockbox: ${JSON.stringify(lb)}`);
  const a = await openDemo(browser.context, server, user);
  const b = await openDemo(browser.context, server, user);
  await Promise.all([waitSynced(a), waitSynced(b)]);
  await a.bringToFront();
  await a.waitForSelector('[data-testid=key-state-openai]:has-text("no key")');

  // A key the server refuses: the user is told why, nothing is stored.
  await a.fill('[data-testid=key-input-openai]', 'sk-short');
  await a.click('[data-testid=key-save-openai]');
  await a.waitForSelector('[data-testid=notice][data-kind=error]:has-text("was not saved")');
  assert.match(await text(a, 'key-state-openai'), /no key/);

  const key = `sk-proj-${'e2e'.repeat(14)}Zq9x`;
  await a.fill('[data-testid=key-input-openai]', key);
  await a.click('[data-testid=key-save-openai]');
  await a.waitForSelector('[data-testid=key-state-openai]:has-text("•••• Zq9x")');
  assert.equal(await a.inputValue('[data-testid=key-input-openai]'), '', 'the field is cleared');
  // The other tab learns it from the synced lockbox/openai document.
  await b.waitForSelector('[data-testid=key-state-openai]:has-text("•••• Zq9x")', { timeout: 5000 });

  // The key appears nowhere: not in either page, not in the browser's storage, not in the user's synced space.
  for (const p of [a, b]) {
    assert.ok(!(await p.content()).includes(key.slice(0, -4)), 'page holds no key material');
    const stored = await p.evaluate(() => Object.keys(localStorage).map((k) => localStorage.getItem(k)).join('\n'));
    assert.ok(!stored.includes(key.slice(0, -4)), 'localStorage holds no key material');
  }
  const s = await state(server, await token(server, user));
  const lockboxDoc = s.docs.get('lockbox/openai').value;
  assert.equal(lockboxDoc.configured, true);
  assert.equal(lockboxDoc.last4, 'Zq9x');
  assert.ok(!JSON.stringify([...s.docs.values()]).includes(key.slice(0, -4)), 'the synced space holds no key material');

  await a.click('[data-testid=key-remove-openai]');
  await a.waitForSelector('[data-testid=key-state-openai]:has-text("no key")');
  await b.waitForSelector('[data-testid=key-state-openai]:has-text("no key")', { timeout: 5000 });
  await a.close();
  await b.close();
});

test('without a lockbox on the server the page says "lockbox unavailable" and everything else still syncs', async () => {
  const user = 'demo-ken';
  const tok = await token(bare, user);
  const lb = await api(bare, tok, 'GET', '/v1/lockbox');
  assert.ok([404, 503].includes(lb.status), `a server without TIDEMARK_MASTER_KEYS refuses the lockbox with 404 or 503, got ${lb.status}`);
  const page = await openDemo(browser.context, bare, user);
  await waitSynced(page);
  await page.waitForSelector('[data-testid=lockbox-status]:has-text("lockbox unavailable")');
  assert.equal(await text(page, 'key-state-openai'), 'lockbox unavailable');
  assert.equal(await page.$('[data-testid=key-input-openai]'), null, 'no key field to type into');
  await page.check('[data-testid="model-toggle-gpt-4o-mini"]');
  await page.waitForFunction(() => window.demo.client.pendingCount === 0);
  assert.deepEqual((await docValue(bare, tok, 'model_preferences', 'openai')).enabled_models, ['gpt-4o-mini']);
  await page.close();
});

test('the sync badge: green "Synced just now" / "Synced 2m ago", yellow "Stale", a spinner while syncing, red on error', async () => {
  const user = 'demo-leo';
  const { context } = browser;
  const page = await openDemo(context, server, user, { setup: (p) => p.clock.install() });
  await waitSynced(page);
  const badge = () =>
    page.evaluate(() => {
      const b = document.querySelector('[data-testid=badge]');
      return { status: b.dataset.status, text: b.innerText.trim(), bg: getComputedStyle(b).backgroundColor, spinner: getComputedStyle(b.querySelector('.spin')).display !== 'none' };
    });
  const GREEN = 'rgb(227, 246, 234)';
  const YELLOW = 'rgb(255, 243, 214)';
  const RED = 'rgb(253, 232, 230)';

  let b = await badge();
  assert.deepEqual([b.status, b.text, b.bg, b.spinner], ['synced', 'Synced just now', GREEN, false]);

  // The refresh button: a spinner while it syncs, then green again.
  await page.evaluate(() => {
    window.__badges = [];
    const el = document.querySelector('[data-testid=badge]');
    new MutationObserver(() => window.__badges.push({ status: el.dataset.status, spinner: getComputedStyle(el.querySelector('.spin')).display !== 'none' })).observe(el, { attributes: true, subtree: true, childList: true, characterData: true });
  });
  await page.click('[data-testid=refresh]');
  await page.waitForFunction(() => window.__badges.some((x) => x.status === 'syncing') && window.demo.client.status === 'synced');
  const seen = await page.evaluate(() => window.__badges);
  assert.ok(seen.some((x) => x.status === 'syncing' && x.spinner), `spinner shown while syncing: ${JSON.stringify(seen)}`);
  b = await badge();
  assert.equal(b.text, 'Synced just now');

  // Cut off: still green while the data is under 5 minutes old, then yellow.
  await context.setOffline(true);
  await page.waitForFunction(() => window.demo.client.status === 'disconnected');
  await page.clock.fastForward('02:30');
  await page.waitForFunction(() => /Synced 2m ago/.test(document.querySelector('[data-testid=badge]').innerText));
  b = await badge();
  assert.equal(b.bg, GREEN);
  assert.match(b.text, /^Synced 2m ago · offline$/);
  await page.clock.fastForward('03:00');
  await page.waitForFunction(() => window.demo.client.status === 'stale');
  b = await badge();
  assert.deepEqual([b.status, b.text, b.bg], ['stale', 'Stale', YELLOW]);

  // Back: green "just now" again, without a reload.
  await context.setOffline(false);
  await page.waitForFunction(() => window.demo.client.status === 'synced', null, { timeout: 30_000 });
  b = await badge();
  assert.deepEqual([b.text, b.bg], ['Synced just now', GREEN]);

  // An error (a space this user may not read): red, with the reason.
  await page.evaluate(() => window.demo.client.space('user:someone-else'));
  await page.waitForFunction(() => window.demo.client.status === 'error');
  b = await badge();
  assert.equal(b.bg, RED);
  assert.match(b.text, /^Sync error/);
  await page.close();
});
