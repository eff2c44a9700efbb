// The "done when": tidemark-react installs from its folder into a
// fresh React app and the README's example works. A new app in a temporary
// folder gets `install-links=true` in its .npmrc and runs `npm install
// <relative path to clients/react> react react-dom` (the npm registry, or
// npm's cache, for React only); example/main.jsx is bundled there with
// esbuild, resolving everything from that app's node_modules, and run in
// Chromium against a real server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, token, state, patchDoc, tmpDir, waitFor, PKG, esbuild, appHtml, serveFiles } from './react.mjs';

const f = fixture({ app: false });

/**
 * `npm install ARGS` in `dir`, without blocking this process (the server's
 * and the browser's pipes keep being read). npm once hung here for good while
 * unpacking react-dom from its cache (cause unknown; other npm runs were
 * busy on the machine), so a hung npm is killed after two minutes and tried
 * once more.
 */
async function npmInstall(dir, args) {
  const run = () =>
    new Promise((resolve) => {
      execFile('npm', ['install', ...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: dir, timeout: 120_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
        resolve({ error, output: `${stdout}${stderr}` }),
      );
    });
  let r = await run();
  if (r.error && r.error.killed) {
    console.error(`npm install hung in ${dir} (killed after 2 minutes); trying once more`);
    r = await run();
  }
  if (r.error) throw new Error(`npm install ${args.join(' ')} failed in ${dir} (it needs the npm registry, or React in npm's cache): ${r.error.message}\n${r.output}`);
}

test('a fresh React app installs the package from its folder (install-links) and the README example runs', async () => {
  const app = tmpDir('fresh-app');
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh-react-app', private: true, type: 'module' }, null, 2));
  fs.writeFileSync(path.join(app, '.npmrc'), 'install-links=true\n');
  const dev = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8')).devDependencies;
  await npmInstall(app, [path.relative(app, PKG), `react@${dev.react}`, `react-dom@${dev['react-dom']}`]);

  // Copies, not links: the package and its tidemark-client dependency, and one React (the app's).
  const nm = path.join(app, 'node_modules');
  assert.equal(fs.lstatSync(path.join(nm, 'tidemark-react')).isSymbolicLink(), false, 'tidemark-react is copied');
  assert.equal(fs.lstatSync(path.join(nm, 'tidemark-client')).isSymbolicLink(), false, 'tidemark-client is copied');
  assert.ok(fs.existsSync(path.join(nm, 'tidemark-react/src/index.js')));
  assert.equal(fs.existsSync(path.join(nm, 'tidemark-react/node_modules')), false, 'no second React inside the package');
  const deps = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).dependencies;
  assert.match(deps['tidemark-react'], /^file:/);

  // The README example, bundled from the app's own node_modules only.
  fs.mkdirSync(path.join(app, 'src'));
  fs.copyFileSync(path.join(PKG, 'example/main.jsx'), path.join(app, 'src/main.jsx'));
  const { build } = await esbuild();
  const out = await build({
    entryPoints: ['src/main.jsx'],
    absWorkingDir: app,
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    outdir: 'dist',
    metafile: true,
    logLevel: 'silent',
  });
  const outside = Object.keys(out.metafile.inputs).filter((f) => f.startsWith('..') || path.isAbsolute(f));
  assert.deepEqual(outside, [], 'every module comes from the app folder');
  const inputs = Object.keys(out.metafile.inputs);
  for (const m of ['node_modules/tidemark-react/src/index.js', 'node_modules/tidemark-client/']) assert.ok(inputs.some((f) => f.startsWith(m)), `${m} bundled`);

  const { context, server } = f;
  await serveFiles(context, server, '/fresh-app/', {
    'index.html': ['text/html; charset=utf-8', appHtml('/fresh-app/main.js', 'fresh app')],
    'main.js': ['text/javascript; charset=utf-8', out.outputFiles.find((f) => f.path.endsWith('.js')).text],
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  const user = 'rx-fresh';
  await page.goto(`${server.url}/fresh-app/?user=${user}`);
  await page.waitForSelector('.tidemark-badge[data-state=synced]', { timeout: 15_000 });
  const tok = await token(server, user);
  await page.click('[data-testid=set-dark]');
  await waitFor(async () => (await state(server, tok)).docs.get('settings/ui')?.value.theme === 'dark', { what: 'the example\'s write on the server' });
  await patchDoc(server, tok, 'settings', 'ui', { theme: 'system' });
  await page.waitForSelector('[data-testid=theme]:text-is("system")', { timeout: 10_000 });
  await page.close();
});
