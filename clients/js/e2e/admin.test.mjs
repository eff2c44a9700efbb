// The live inspector at /admin: it opens with an admin token; a write made
// in another tab (the demo page) shows in the per-second chart and in the
// watched space's event list within a second of its commit; lockbox values
// never reach the page; a user's token (and no token) sees nothing at all.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, api } from './harness.mjs';

let server;
let browser;
test.before(async () => {
  server = await startServer({ lockbox: true });
  await loadCatalog(server);
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

/** The inspector in a new tab, opened with `tok` through its token field. */
async function openInspector(tok) {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/admin`);
  await page.fill('[data-testid=token]', tok);
  await page.click('[data-testid=use-token]');
  return { page, errors };
}

/**
 * Records in the page when (Date.now()) an event row for `collection/id`
 * appears and when the chart's window counts more events than it does now.
 */
async function watchArrival(page, collection, id) {
  await page.evaluate(
    ([c, i]) => {
      const chart = document.querySelector('[data-testid=chart]');
      const base = Number(chart.dataset.events || 0);
      window.__arrived = {};
      const check = () => {
        const now = Date.now();
        if (!window.__arrived.chart && Number(chart.dataset.events || 0) > base) window.__arrived.chart = now;
        if (!window.__arrived.list && [...document.querySelectorAll('[data-testid=event]')].some((li) => li.textContent.includes(`${c}/${i}`))) window.__arrived.list = now;
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      check();
    },
    [collection, id],
  );
}

test('an admin sees connections, spaces, the catalog, and another tab\'s write within a second in the chart and the event list', async () => {
  const admin = await token(server, 'root', 'admin');
  const { page, errors } = await openInspector(admin);
  await page.waitForSelector('[data-testid=inspector]:not([hidden])');
  await page.waitForSelector('[data-testid=provider-status-anthropic]');
  assert.equal(await page.innerText('[data-testid=provider-status-anthropic]'), 'degraded');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=chart]').dataset.points) > 0);

  // Another tab: the demo page, signed in as dora, on a WebSocket.
  const demo = await openDemo(browser.context, server, 'dora');
  await waitSynced(demo);
  await page.bringToFront();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=conn-ws]').textContent) >= 1, null, { timeout: 5000 });
  await page.fill('[data-testid=watch-space]', 'user:dora');
  await page.click('[data-testid=watch]');
  await page.waitForSelector('[data-testid="space-user:dora"]');
  await page.waitForFunction(() => /user:dora at version/.test(document.querySelector('[data-testid=events-note]').textContent));
  await watchArrival(page, 'settings', 'ui');

  await demo.check('[data-testid=theme-dark]');
  await demo.waitForFunction(() => window.demo.client.pendingCount === 0 && window.demo.me.get('settings', 'ui')?.theme === 'dark');
  const dora = await token(server, 'dora');
  const events = (await api(server, admin, 'GET', '/v1/admin/spaces/user:dora/events?limit=5')).json.events;
  const write = events.findLast((e) => e.collection === 'settings' && e.id === 'ui');
  assert.ok(write, JSON.stringify(events));
  const committed = Date.parse(write.at);
  await page.waitForFunction(() => window.__arrived.list && window.__arrived.chart, null, { timeout: 3000 });
  const arrived = await page.evaluate(() => window.__arrived);
  const list = arrived.list - committed;
  const chart = arrived.chart - committed;
  console.log(`commit -> event list ${list} ms, -> chart ${chart} ms`);
  assert.ok(list <= 1000, `the event list showed the write ${list} ms after its commit`);
  assert.ok(chart <= 1000, `the chart counted the write ${chart} ms after its commit`);
  const row = await page.innerText(`[data-testid=event][data-version="${write.version}"]`);
  assert.match(row, /settings\/ui/);
  assert.match(row, /"theme":"dark"/);

  // A key stored through the lockbox: its view is withheld, the key nowhere.
  const key = 'sk-proj-inspector' + 'x'.repeat(40) + 'q9z8';
  await watchArrival(page, 'lockbox', 'openai');
  const put = await api(server, dora, 'PUT', '/v1/lockbox/openai', { api_key: key });
  assert.equal(put.status, 200, JSON.stringify(put));
  await page.waitForFunction(() => window.__arrived.list, null, { timeout: 3000 });
  const html = await page.content();
  assert.ok(!html.includes(key) && !html.includes('q9z8'), 'the key (or its last 4) reached the page');
  assert.match(await page.innerText('[data-testid=events] li:first-child'), /lockbox\/openai[\s\S]*value withheld/);

  // A write from a client outside the browser shows too.
  await watchArrival(page, 'notes', 'n1');
  const before = Date.now();
  assert.equal((await api(server, dora, 'PUT', '/v1/spaces/user:me/docs/notes/n1', { text: 'hello' })).status, 200);
  await page.waitForFunction(() => window.__arrived.list && window.__arrived.chart, null, { timeout: 3000 });
  const after = await page.evaluate(() => window.__arrived);
  assert.ok(after.list - before <= 1000 && after.chart - before <= 1000, JSON.stringify({ before, ...after }));
  assert.deepEqual(errors, []);
  await demo.close();
  await page.close();
});

test('a user\'s token, a bad token and no token see nothing', async () => {
  // Something the page would show to an admin.
  const user = await token(server, 'erin');
  await api(server, user, 'PUT', '/v1/spaces/user:me/docs/notes/secret-plan', { text: 'visible only to admins' });

  for (const [tok, status] of [
    [user, /not an admin token \(403\)/],
    ['not-a-token', /Token refused \(401\)/],
  ]) {
    const { page, errors } = await openInspector(tok);
    await page.waitForSelector('[data-testid=auth-status][data-kind=error]');
    assert.match(await page.innerText('[data-testid=auth-status]'), status);
    await page.waitForTimeout(600); // any stream or poll would have rendered by now
    assert.equal(await page.isVisible('[data-testid=inspector]'), false);
    const text = await page.evaluate(() => document.body.innerText + document.documentElement.outerHTML);
    for (const leak of ['user:erin', 'secret-plan', 'visible only to admins', 'Anthropic', 'catalog version']) {
      assert.ok(!text.includes(leak), `${leak} is in the page of a refused token`);
    }
    assert.equal(await page.locator('[data-testid=event], [data-testid^=space-], [data-testid^=provider-]').count(), 0);
    assert.equal(await page.getAttribute('[data-testid=chart]', 'data-points'), '0');
    assert.deepEqual(errors, []);
    await page.close();
  }

  // The API itself: 401 without a token, 403 for a user's, nothing else said.
  for (const path of ['/v1/admin/overview', '/v1/admin/spaces/user:erin/events', `/v1/admin/stream?access_token=${user}`]) {
    const none = await fetch(server.url + path.replace(/\?access_token=.*/, ''));
    assert.equal(none.status, 401, path);
    const r = await fetch(server.url + path, { headers: { authorization: `Bearer ${user}` } });
    assert.equal(r.status, 403, path);
    assert.equal((await r.json()).error.code, 'forbidden');
  }
});
