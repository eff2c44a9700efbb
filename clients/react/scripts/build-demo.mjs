// Builds the React demo page's bundle (clients/demo/react/app.js, served at
// /demo/react/app.js and compiled into the server binary) from
// clients/demo/react/app.jsx with esbuild: React, react-dom and tidemark-react
// are bundled and minified; `tidemark-client` stays an import, which the
// page's import map points at the server's own /client/tidemark.js.
//
//   npm run build:demo                    # writes clients/demo/react/app.js
//   node scripts/build-demo.mjs OUT.js    # writes OUT.js instead
//
// The output depends only on the sources and the pinned esbuild, React and
// react-dom versions (no paths, dates or source maps in it), so a test
// rebuilds it and compares it with the committed file.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_DIR = path.resolve(PKG, '../demo/react');
export const DEMO_BUNDLE = path.join(DEMO_DIR, 'app.js');

/** esbuild options shared by the demo bundle and the end-to-end test app. */
export function reactAppOptions({ entry, production, external = [] }) {
  return {
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    // The app imports `react` and `tidemark-react` as an app would; they come from this package.
    alias: { 'tidemark-react': path.join(PKG, 'src/index.js') },
    nodePaths: [path.join(PKG, 'node_modules')],
    define: { 'process.env.NODE_ENV': JSON.stringify(production ? 'production' : 'development') },
    minify: production,
    legalComments: production ? 'eof' : 'inline',
    external,
    logLevel: 'silent',
  };
}

/** Builds the demo bundle into `outfile`. */
export async function buildDemo(outfile = DEMO_BUNDLE) {
  await esbuild.build({
    ...reactAppOptions({ entry: path.join(DEMO_DIR, 'app.jsx'), production: true, external: ['tidemark-client'] }),
    absWorkingDir: PKG,
    outfile,
    write: true,
  });
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDemo(process.argv[2] ? path.resolve(process.argv[2]) : DEMO_BUNDLE);
  console.log(`wrote ${path.relative(process.cwd(), out) || out}`);
}
