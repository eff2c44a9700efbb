// Regenerates docs/demo-react.png: the React demo page (/demo/react) in
// headless Chromium against the real server, with the tests' catalog, a few
// choices made through the page, a deprecation and a provider status change
// announced live, and an edit waiting in the settings' debounce (the badge's
// orange "Unsaved changes" with "Save now").
//   node clients/react/e2e/screenshot.mjs [out.png]
import path from 'node:path';
import { REPO, startServer, launchBrowser, loadCatalog, api } from './react.mjs';

const out = path.resolve(process.argv[2] || path.join(REPO, 'docs/demo-react.png'));
const server = await startServer();
const { context, close } = await launchBrowser();
try {
  const admin = await loadCatalog(server);
  const page = await context.newPage();
  await page.clock.install();
  await page.goto(`${server.url}/demo/react`);
  await page.fill('[data-testid=signin-name]', 'alice');
  await page.click('[data-testid=signin-submit]');
  await page.waitForSelector('[data-testid=provider-openai]');
  const idle = () => page.waitForFunction(() => window.demo && window.demo.client.status === 'synced' && window.demo.client.pendingCount === 0);
  for (const id of ['provider-enabled-openai', 'model-toggle-gpt-4o', 'model-toggle-gpt-4o-mini', 'provider-enabled-anthropic', 'model-toggle-claude-3-5-sonnet-latest']) {
    await page.check(`[data-testid="${id}"]`);
    await idle();
  }
  await page.check('[data-testid=send-on-enter]');
  await page.clock.runFor(2000);
  await page.waitForSelector('[data-testid=settings-status][data-status=synced]');

  // Changes an admin makes to the shared catalog, announced as they arrive.
  await api(server, admin, 'PATCH', '/v1/spaces/catalog/docs/providers/openrouter', { status: 'degraded' });
  await page.waitForSelector('[data-testid=notice]:has-text("OpenRouter")');
  await api(server, admin, 'PATCH', '/v1/spaces/catalog/docs/models/gpt-4o-mini', { deprecation_status: 'deprecated', deprecation_date: '2026-06-01', sunset_date: '2027-06-01', replacement_model_id: 'gpt-4o' });
  await page.waitForSelector('[data-testid=notice]:has-text("GPT-4o mini")');

  // An edit waiting in the debounce (the page's clock stands still).
  await page.clock.pauseAt((await page.evaluate(() => Date.now())) + 1000);
  await page.fill('[data-testid=language]', 'en-GB');
  await page.waitForSelector('.tidemark-badge[data-state=unsaved]');
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await close();
  await server.stop();
}
