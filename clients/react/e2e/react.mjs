// Shared pieces of tidemark-react's end-to-end tests. The servers, browsers
// and HTTP helpers are clients/js/e2e/harness.mjs; this adds the React test
// app (./app.jsx, built with esbuild when a test file starts) served on the
// tidemark server's own origin through Playwright's routing, so no
// test-only route exists on the server.
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { requirePrerequisites, startServer, loadCatalog, launchBrowser } from '../../js/e2e/harness.mjs';

export * from '../../js/e2e/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PKG = path.resolve(HERE, '..');
const APP_PATH = '/react-test/';

/** Fails (never skips) when the browser, server, playwright-core or this package's build tools are missing. */
export function requireReactPrerequisites() {
  const missing = ['esbuild', 'react', 'react-dom'].filter((m) => !fs.existsSync(path.join(PKG, 'node_modules', m, 'package.json')));
  if (missing.length) {
    throw new Error(`end-to-end prerequisites missing: ${missing.join(', ')} not installed in clients/react: run \`npm ci\` in clients/react (or scripts/e2e, which does)`);
  }
  requirePrerequisites();
}

/**
 * A test file's server (with the tests' catalog, written by `admin`) and
 * browser, started before its tests (with the test app built, unless `app`
 * is false) and stopped after them: `{server, admin, browser, context,
 * freshContext()}`; `freshContext()` is another browser of its own (no
 * shared storage, network or clock), also stopped after.
 */
export function fixture({ app = true } = {}) {
  const f = { browsers: [] };
  f.freshContext = async () => {
    const b = await launchBrowser();
    f.browsers.push(b);
    return b.context;
  };
  test.before(async () => {
    requireReactPrerequisites();
    if (app) await testAppBundle();
    f.server = await startServer();
    f.admin = await loadCatalog(f.server);
    f.context = await f.freshContext();
  });
  test.after(async () => {
    for (const b of f.browsers) await b.close();
    if (f.server) await f.server.stop();
  });
  return f;
}

export async function esbuild() {
  requireReactPrerequisites();
  return import(path.join(PKG, 'node_modules/esbuild/lib/main.js'));
}

let built = null;

/** The test app's bundle (React's development build, so StrictMode mounts twice), built once per test file. */
export async function testAppBundle() {
  if (!built) {
    const [{ build }, { reactAppOptions }] = await Promise.all([esbuild(), import('../scripts/build-demo.mjs')]);
    built = build({ ...reactAppOptions({ entry: path.join(HERE, 'app.jsx'), production: false }), absWorkingDir: PKG, write: false, outdir: 'out' }).then(
      (r) => r.outputFiles[0].text,
    );
  }
  return built;
}

/** An HTML page loading `script` as a module, with a `#root` for React. */
export function appHtml(script, title = 'tidemark-react e2e') {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script type="module" src="${script}"></script></head><body><div id="root"></div></body></html>`;
}

/**
 * Serves `files` (`{name: [contentType, body]}`) under `prefix` on the
 * server's origin in `context` (Playwright's routing: also while the browser
 * is offline, as a service worker's app-shell cache would).
 */
export async function serveFiles(context, server, prefix, files) {
  await context.route(
    (u) => u.origin === server.url && u.pathname.startsWith(prefix),
    (route) => {
      const name = new URL(route.request().url()).pathname.slice(prefix.length) || 'index.html';
      const f = files[name];
      return f ? route.fulfill({ status: 200, contentType: f[0], body: f[1] }) : route.fulfill({ status: 404, body: 'not found' });
    },
  );
}

/** Serves the test app at /react-test/ in `context` (once per context). */
export async function serveTestApp(context, server) {
  if (context.__reactTestApp) return;
  context.__reactTestApp = true;
  await serveFiles(context, server, APP_PATH, {
    'index.html': ['text/html; charset=utf-8', appHtml(`${APP_PATH}app.js`)],
    'app.js': ['text/javascript; charset=utf-8', await testAppBundle()],
  });
}

/** The test app's URL for `token`, showing `show` (a list of parts), in StrictMode when `strict`. */
export function appUrl(server, { token, show = [], strict = false }) {
  const q = new URLSearchParams({ token, show: show.join(',') });
  if (strict) q.set('strict', '');
  return `${server.url}${APP_PATH}?${q}`;
}

/** Opens the test app in a new tab of `context`; `setup(page)` runs before it loads. Resolves once its client exists. */
export async function openApp(context, server, opts) {
  await serveTestApp(context, server);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  if (opts.setup) await opts.setup(page);
  await page.goto(appUrl(server, opts));
  await page.waitForFunction(() => window.t && window.t.client, null, { timeout: 10_000 });
  return page;
}

/** Waits until the app's client is synced with nothing queued. */
export async function waitIdle(page, timeout = 15_000) {
  await page.waitForFunction(() => window.t.client.status === 'synced' && window.t.client.pendingCount === 0, null, { timeout, polling: 50 });
}

/** The badge's state (`synced`, `unsaved`, ...), colour, label and whether "Save now" is shown. */
export function badgeOf(page) {
  return page.evaluate(() => {
    const b = document.querySelector('.tidemark-badge');
    return b && { state: b.dataset.state, color: b.dataset.color, label: b.querySelector('.tidemark-badge__label').textContent, saveNow: !!b.querySelector('.tidemark-badge__save') };
  });
}

/**
 * Records the page's WebSocket connections to /v1/ws and the JSON frames it
 * sends on them, as Chromium's network layer sees them (not the client's own
 * bookkeeping): `{sockets: [url], sent: [message]}`.
 */
export function recordWebSockets(page) {
  const rec = { sockets: [], sent: [] };
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).pathname !== '/v1/ws') return;
    rec.sockets.push(new URL(ws.url()).pathname); // (without the token)
    ws.on('framesent', (f) => {
      try {
        rec.sent.push(JSON.parse(typeof f.payload === 'string' ? f.payload : f.payload.toString()));
      } catch {
        // not JSON: not ours
      }
    });
  });
  return rec;
}
