// Shared pieces of the end-to-end tests: the real tidemark binary on a free
// loopback port with its own SQLite file, Debian's Chromium driven by
// playwright-core, and small HTTP helpers that read the server's state
// independently of the browser.
//
// Everything started here binds 127.0.0.1 and is stopped by the test that
// started it (and, as a last resort, when the Node process exits).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../../..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SERVER_BIN = process.env.TIDEMARK_BIN || path.join(REPO, 'target/debug/tidemark');
/** A fixed secret, so tokens survive a server restart. */
export const JWT_SECRET = 'e2e-secret-0123456789abcdef';
/** A fixed lockbox master key (`kid:base64`, 32 bytes) for servers started with `lockbox: true`. */
export const MASTER_KEYS = `e2e1:${createHash('sha256').update('tidemark e2e master key').digest('base64')}`;
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const cleanups = new Set();
process.on('exit', () => {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // exiting anyway
    }
  }
});

/** Fails (never skips) when the browser or the server binary is missing, saying how to get them. */
export function requirePrerequisites() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) {
    missing.push(`Chromium not found at ${CHROMIUM}: install Debian's package with \`apt-get update && apt-get install -y chromium\` (or run scripts/e2e, which does), or set CHROMIUM_PATH`);
  }
  if (!fs.existsSync(SERVER_BIN)) {
    missing.push(`tidemark server binary not found at ${SERVER_BIN}: build it with \`cargo build --locked --bin tidemark\` (or run scripts/e2e), or set TIDEMARK_BIN`);
  }
  let pw = null;
  try {
    pw = fs.existsSync(path.join(REPO, 'clients/js/node_modules/playwright-core/package.json'));
  } catch {
    pw = false;
  }
  if (!pw) missing.push('playwright-core is not installed: run `npm ci` in clients/js (or scripts/e2e)');
  if (missing.length) throw new Error(`end-to-end prerequisites missing:\n  - ${missing.join('\n  - ')}`);
}

export async function loadPlaywright() {
  requirePrerequisites();
  return import('playwright-core');
}

export function tmpDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tidemark-e2e-${prefix}-`));
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` (sync or async) until it returns a truthy value; fails after `timeout` ms naming `what`. */
export async function waitFor(fn, { timeout = 10_000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(interval);
  }
}

/**
 * The real server binary with `--dev`, on `port` (a free one by default),
 * with its own SQLite file (a new one unless `db` is given) and the fixed JWT
 * secret; `lockbox: true` gives it a master key. Resolves once `/healthz`
 * answers.
 */
export async function startServer({ port, db, lockbox = false, env = {} } = {}) {
  requirePrerequisites();
  port = port || (await freePort());
  db = db || path.join(tmpDir('db'), 'tidemark.db');
  const url = `http://127.0.0.1:${port}`;
  const log = [];
  const proc = spawn(SERVER_BIN, ['--dev', '--listen', `127.0.0.1:${port}`], {
    env: {
      // Nothing of the caller's tidemark or provider-key settings leaks in.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TIDEMARK_') && !k.endsWith('_API_KEY'))),
      TIDEMARK_JWT_SECRET: JWT_SECRET,
      TIDEMARK_DATABASE_URL: `sqlite://${db}`,
      RUST_LOG: process.env.RUST_LOG || 'warn',
      NO_COLOR: '1',
      // No provider health probes: the tests set provider statuses themselves.
      TIDEMARK_HEALTH_INTERVAL_MS: '0',
      // The tests publish the catalog with admin tokens from /dev/token.
      TIDEMARK_DEV_TOKEN_ROLES: 'user,admin,service',
      // Without `lockbox`, a server with no lockbox at all (not --dev's key).
      ...(lockbox ? { TIDEMARK_MASTER_KEYS: MASTER_KEYS } : { TIDEMARK_DEV_MASTER_KEY: 'false' }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    log.push(chunk.toString());
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = null;
  const exitP = new Promise((resolve) => proc.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const cleanup = () => proc.kill('SIGKILL');
  cleanups.add(cleanup);
  const server = {
    url,
    port,
    db,
    lockbox,
    proc,
    log,
    /** Stops the process with `signal` and waits for it to exit. */
    async stop(signal = 'SIGTERM') {
      cleanups.delete(cleanup);
      if (exited) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const r = await exitP;
      clearTimeout(t);
      return r;
    },
    logs: () => log.join(''),
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`server exited (${JSON.stringify(exited)}):\n${server.logs()}`);
        const r = await fetch(`${url}/healthz`).catch(() => null);
        return r && r.ok;
      },
      { timeout: 30_000, interval: 50, what: `the server on ${url} to answer /healthz` },
    );
  } catch (e) {
    await server.stop('SIGKILL');
    throw new Error(`${e.message}\nserver output:\n${server.logs()}`);
  }
  return server;
}

/** Headless Debian Chromium with a fresh profile (removed when the process exits). */
export async function launchBrowser() {
  const { chromium } = await loadPlaywright();
  const dir = tmpDir('profile');
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
  });
  // Pages the tests serve through `context.route` (the app-shell cache, the
  // page from disk) have no network address space of their own, and
  // Chromium's Local Network Access checks would refuse their WebSocket to
  // 127.0.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS). Pages the
  // server serves itself need no permission: loopback to loopback.
  await context.grantPermissions(['local-network-access']);
  // (Playwright itself ends the browser if this process dies first.)
  const close = () => context.close().catch(() => {});
  return { context, close };
}

// ── HTTP, independent of the browser ─────────────────────────────────────────

export async function token(server, user, role = 'user') {
  const r = await fetch(`${server.url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, role }) });
  if (!r.ok) throw new Error(`POST /dev/token: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

export async function api(server, tok, method, p, body, headers = {}) {
  const r = await fetch(server.url + p, {
    method,
    headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** `GET /v1/spaces/{space}/state` as `{epoch, version, docs: Map 'collection/id' -> doc}`. */
export async function state(server, tok, space = 'user:me') {
  const r = await api(server, tok, 'GET', `/v1/spaces/${encodeURIComponent(space)}/state`);
  if (r.status !== 200) throw new Error(`GET state: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return { ...r.json, docs: new Map(r.json.docs.map((d) => [`${d.collection}/${d.id}`, d])) };
}

export async function docValue(server, tok, collection, id, space = 'user:me') {
  const s = await state(server, tok, space);
  const d = s.docs.get(`${collection}/${id}`);
  return d ? d.value : undefined;
}

/** A write as another device would make it (document endpoint). */
export async function patchDoc(server, tok, collection, id, value, space = 'user:me') {
  const r = await api(server, tok, 'PATCH', `/v1/spaces/${encodeURIComponent(space)}/docs/${collection}/${encodeURIComponent(id)}`, value);
  if (r.status !== 200) throw new Error(`PATCH ${collection}/${id}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** The events of `space` after `cursor` (`POST /v1/sync`, no mutations). */
export async function eventsSince(server, tok, cursor, space = 'user:me') {
  const r = await api(server, tok, 'POST', '/v1/sync', { client_id: 'e2e-reader', cursors: { [space]: cursor }, mutations: [] });
  if (r.status !== 200) throw new Error(`POST /v1/sync: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  const answer = Object.values(r.json.spaces)[0];
  if (answer.kind === 'up_to_date') return [];
  if (answer.kind !== 'events') throw new Error(`expected events after ${JSON.stringify(cursor)}, got ${answer.kind}`);
  return answer.events;
}

// ── the catalog the tests use ────────────────────────────────────────────────

const model = (id, name, provider_id, extra = {}) => ({
  id,
  name,
  provider_id,
  context_window: 128000,
  max_input_tokens: 128000,
  max_output_tokens: 16384,
  supports_streaming: true,
  supports_vision: false,
  deprecation_status: 'active',
  deprecation_date: null,
  sunset_date: null,
  replacement_model_id: null,
  ...extra,
});

export const CATALOG = {
  providers: [
    { id: 'openai', display_name: 'OpenAI', status: 'available', enabled: true, fallback_provider_id: 'anthropic', default_model_id: 'gpt-4o-mini' },
    { id: 'anthropic', display_name: 'Anthropic', status: 'degraded', enabled: true, fallback_provider_id: 'openai', default_model_id: 'claude-3-5-sonnet-latest' },
    { id: 'openrouter', display_name: 'OpenRouter', status: 'unavailable', enabled: true, fallback_provider_id: 'openai', default_model_id: 'openai/gpt-4o-mini' },
  ],
  models: [
    model('gpt-4o', 'GPT-4o', 'openai', { supports_vision: true }),
    model('gpt-4o-mini', 'GPT-4o mini', 'openai'),
    model('gpt-4', 'GPT-4', 'openai', { context_window: 8192, max_input_tokens: 8192, max_output_tokens: 8192, deprecation_status: 'deprecated', deprecation_date: '2026-06-01', sunset_date: '2027-06-01', replacement_model_id: 'gpt-4o' }),
    model('gpt-3.5-turbo', 'GPT-3.5 Turbo', 'openai', { context_window: 16385, max_input_tokens: 16385, max_output_tokens: 4096, deprecation_status: 'sunset', deprecation_date: '2025-06-01', sunset_date: '2026-01-01', replacement_model_id: 'gpt-4o-mini' }),
    model('claude-3-5-sonnet-latest', 'Claude 3.5 Sonnet', 'anthropic', { context_window: 200000, max_input_tokens: 200000, max_output_tokens: 8192 }),
    model('claude-3-opus-latest', 'Claude 3 Opus', 'anthropic', { context_window: 200000, max_input_tokens: 200000, max_output_tokens: 4096, deprecation_status: 'deprecated', deprecation_date: '2026-06-01', sunset_date: '2027-01-05', replacement_model_id: 'claude-3-5-sonnet-latest' }),
    model('openai/gpt-4o-mini', 'OpenAI: GPT-4o mini', 'openrouter'),
    model('anthropic/claude-3.5-sonnet', 'Anthropic: Claude 3.5 Sonnet', 'openrouter', { context_window: 200000, max_input_tokens: 200000, max_output_tokens: 8192 }),
  ],
};

/** Writes the test catalog with an admin token (`PUT /v1/spaces/catalog/docs/...`). */
export async function loadCatalog(server, catalog = CATALOG) {
  const admin = await token(server, 'admin', 'admin');
  for (const [collection, list] of [['providers', catalog.providers], ['models', catalog.models]]) {
    for (const doc of list) {
      const r = await api(server, admin, 'PUT', `/v1/spaces/catalog/docs/${collection}/${encodeURIComponent(doc.id)}`, doc);
      if (r.status !== 200) throw new Error(`PUT catalog ${collection}/${doc.id}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
    }
  }
  return admin;
}

// ── the demo page ────────────────────────────────────────────────────────────

/**
 * While editing: `TIDEMARK_E2E_DEMO_FROM_DISK=1` serves `/` from
 * clients/demo/index.html, `/demo/teams.js` from clients/demo/teams.js and `/client/tidemark.js` from clients/js/tidemark.js
 * (or from the file `TIDEMARK_E2E_CLIENT_JS` names) instead of the copies
 * compiled into the binary, so no rebuild is needed between tries. Off by
 * default: the tests check what the server really serves.
 */
function demoFilesFromDisk() {
  const clientFile = process.env.TIDEMARK_E2E_CLIENT_JS || (process.env.TIDEMARK_E2E_DEMO_FROM_DISK ? path.join(REPO, 'clients/js/tidemark.js') : null);
  const files = new Map(); // path -> [file, content type]
  if (process.env.TIDEMARK_E2E_DEMO_FROM_DISK) {
    files.set('/', [path.join(REPO, 'clients/demo/index.html'), 'text/html; charset=utf-8']);
    files.set('/demo/teams.js', [path.join(REPO, 'clients/demo/teams.js'), 'text/javascript; charset=utf-8']);
  }
  if (clientFile) files.set('/client/tidemark.js', [clientFile, 'text/javascript; charset=utf-8']);
  return files;
}

async function maybeServeDemoFromDisk(context) {
  const files = demoFilesFromDisk();
  if (files.size === 0 || context.__demoFromDisk) return;
  context.__demoFromDisk = true;
  await context.route(
    (u) => u.hostname === '127.0.0.1' && files.has(u.pathname),
    (route) => {
      const [file, contentType] = files.get(new URL(route.request().url()).pathname);
      return route.fulfill({ status: 200, contentType, body: fs.readFileSync(file, 'utf8') });
    },
  );
}

/** Opens the demo page in a new tab of `context`, signed in as `user` (through the sign-in form unless already signed in). */
export async function openDemo(context, server, user, { base = server.url, setup } = {}) {
  await maybeServeDemoFromDisk(context);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  if (setup) await setup(page);
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(`${base}/`);
  await page.waitForSelector('#signin:not([hidden]), #app:not([hidden])', { timeout: 10_000 });
  if (!(await page.isVisible('#signin')) && (await page.innerText('[data-testid=user]')) !== user) {
    await page.click('[data-testid=signout]');
    await page.waitForSelector('#signin:not([hidden])');
  }
  if (await page.isVisible('#signin')) {
    await page.fill('[data-testid=signin-name]', user);
    await page.click('[data-testid=signin-submit]');
  }
  await page.waitForSelector('#app:not([hidden])', { timeout: 10_000 });
  if ((await page.innerText('[data-testid=user]')) !== user) throw new Error(`the demo page is signed in as ${await page.innerText('[data-testid=user]')}, not ${user}`);
  return page;
}

/** Waits until the page's client says `synced` (and, when given, on `transport`). */
export async function waitSynced(page, { timeout = 15_000, transport } = {}) {
  await page.waitForFunction(
    (t) => window.demo && window.demo.client.status === 'synced' && (!t || window.demo.client.transport === t),
    transport || null,
    { timeout, polling: 50 },
  );
}

/** The page's view of a document in `user:me` (or `space`). */
export function viewOf(page, collection, id, space = 'me') {
  return page.evaluate(([c, i, s]) => window.demo[s].get(c, i) ?? null, [collection, id, space]);
}

/**
 * Serves GET requests of `paths` from copies taken now from the real server:
 * what a service worker's app-shell cache does, so the page itself can load
 * while the browser is offline. Everything else still goes to the network.
 * With `TIDEMARK_E2E_DEMO_FROM_DISK` / `TIDEMARK_E2E_CLIENT_JS` the copies
 * are the files on disk, as the page was served before.
 */
export async function cacheAppShell(context, server, paths = ['/', '/client/tidemark.js', '/demo/teams.js']) {
  const shell = new Map();
  const disk = demoFilesFromDisk();
  for (const p of paths) {
    if (disk.has(p)) {
      const [file, contentType] = disk.get(p);
      shell.set(p, { body: fs.readFileSync(file, 'utf8'), contentType });
      continue;
    }
    const r = await fetch(server.url + p);
    if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
    shell.set(p, { body: await r.text(), contentType: r.headers.get('content-type') || 'text/plain' });
  }
  await context.route(
    (u) => u.origin === server.url && shell.has(u.pathname),
    (route) => {
      const s = shell.get(new URL(route.request().url()).pathname);
      return route.fulfill({ status: 200, contentType: s.contentType, body: s.body });
    },
  );
}

/**
 * A reverse proxy in front of the server that refuses every WebSocket upgrade
 * (as some corporate proxies do), and optionally server-sent events too.
 * Plain HTTP, including streaming responses, passes through.
 */
export async function startBlockingProxy(server, { blockSse = false } = {}) {
  const port = await freePort();
  const stats = { upgrades: 0, sse: 0, requests: 0 };
  const sockets = new Set();
  const proxy = http.createServer((req, res) => {
    stats.requests++;
    if (req.url.startsWith('/v1/events')) {
      stats.sse++;
      if (blockSse) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('event streams are blocked here');
        return;
      }
    }
    const up = http.request(
      { host: '127.0.0.1', port: server.port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${server.port}` } },
      (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  proxy.on('upgrade', (req, socket) => {
    stats.upgrades++;
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 28\r\nconnection: close\r\n\r\nWebSockets are blocked here\n');
  });
  proxy.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  const close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      proxy.close(() => resolve());
    });
  cleanups.add(() => proxy.close());
  return { url: `http://127.0.0.1:${port}`, port, stats, close };
}

/**
 * Records in the page the wall-clock time (Date.now()) at which
 * `predicate(arg)` first holds, checked after every change event of the
 * page's spaces (the page renders first: its handler was registered before).
 * Read it with {@link seenAt}. Browser and Node share the machine's clock.
 */
export async function watchFor(page, key, predicate, arg = null) {
  await page.evaluate(
    ([k, src, a]) => {
      const f = new Function(`return (${src})`)();
      window.__seen = window.__seen || {};
      delete window.__seen[k];
      const check = () => {
        if (window.__seen[k]) return;
        try {
          if (f(a)) window.__seen[k] = Date.now();
        } catch {
          // not rendered yet
        }
      };
      window.__seenChecks = window.__seenChecks || [];
      window.__seenChecks.push(check);
      if (!window.__seenHooked) {
        window.__seenHooked = true;
        const all = () => window.__seenChecks.forEach((c) => c());
        window.demo.me.on('change', all);
        window.demo.catalog.on('change', all);
        window.demo.client.on('status', all);
      }
      check();
    },
    [key, predicate.toString(), arg],
  );
}

/** When the watch `key` was first satisfied (ms since the epoch); waits up to `timeout`. */
export async function seenAt(page, key, { timeout = 10_000, what = key } = {}) {
  try {
    await page.waitForFunction((k) => window.__seen && window.__seen[k], key, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`${what}: never seen (${e.message.split('\n')[0]})`);
  }
  return page.evaluate((k) => window.__seen[k], key);
}
