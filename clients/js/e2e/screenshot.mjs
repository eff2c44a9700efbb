// Regenerates docs/demo.png: the demo settings page in headless Chromium,
// against the real server with a catalog loaded.
//   node clients/js/e2e/screenshot.mjs [out.png]
import path from 'node:path';
import { REPO, startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, api, state } from './harness.mjs';

const out = path.resolve(process.argv[2] || path.join(REPO, 'docs/demo.png'));
const server = await startServer({ lockbox: true });
const { context, close } = await launchBrowser();
try {
  // The server's own catalog when it has one, else the tests' catalog.
  const alice = await token(server, 'alice');
  const cat = await state(server, alice, 'catalog');
  if (![...cat.docs.keys()].some((k) => k.startsWith('providers/'))) await loadCatalog(server);
  // Show a degraded provider, as the seeds' warnings describe.
  const admin = await token(server, 'admin', 'admin');
  const anth = (await state(server, admin, 'catalog')).docs.get('providers/anthropic');
  if (anth && anth.value.status === 'available') await api(server, admin, 'PATCH', '/v1/spaces/catalog/docs/providers/anthropic', { status: 'degraded' });

  const page = await openDemo(context, server, 'alice');
  await waitSynced(page);
  await page.waitForSelector('[data-testid=provider-openai]');
  // Some choices, made through the page as a user would.
  await page.check('[data-testid=provider-enabled-openai]');
  await waitSynced(page);
  for (const id of ['gpt-4o', 'gpt-4']) {
    await page.check(`[data-testid="model-toggle-${id}"]`);
    await waitSynced(page);
  }
  await page.check('[data-testid=provider-enabled-anthropic]');
  await waitSynced(page);
  await page.check('[data-testid="model-toggle-claude-3-5-sonnet-latest"]');
  await waitSynced(page);
  await page.click('[data-testid=make-default-anthropic]');
  await waitSynced(page);
  await page.fill('[data-testid=language]', 'en-GB');
  await page.waitForFunction(() => window.demo.me.get('settings', 'ui')?.language === 'en-GB' && window.demo.client.pendingCount === 0, null, { timeout: 10_000 });
  await page.fill('[data-testid=prefs]', JSON.stringify({ font_size: 14, send_on_enter: true }, null, 2));
  await page.click('[data-testid=prefs-save]');
  await waitSynced(page);
  // An API key through the lockbox, when this server has one.
  const lb = await api(server, alice, 'GET', '/v1/lockbox');
  if (lb.status === 200) {
    await page.fill('[data-testid=key-input-openai]', 'sk-proj-demo' + 'x'.repeat(40) + 'a1b2');
    await page.click('[data-testid=key-save-openai]');
    await page.waitForSelector('[data-testid=key-state-openai]:has-text("a1b2")', { timeout: 10_000 });
  } else {
    await page.waitForSelector('[data-testid=lockbox-status]:has-text("lockbox unavailable")', { timeout: 10_000 });
  }
  await page.evaluate(() => document.querySelectorAll('[data-testid=notice]').forEach((n) => n.remove()));
  await page.click('[data-testid=refresh]');
  await waitSynced(page);
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out} (lockbox ${lb.status === 200 ? 'available' : `answered ${lb.status}`})`);
} finally {
  await close();
  await server.stop();
}
