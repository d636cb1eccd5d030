// Builds the browser client into the Python package:
//   gotty_py/static/js/gotty-bundle.js   (src/main.ts and xterm.js, minified, one file)
//   gotty_py/static/css/index.css        (xterm.js's CSS and src/index.css, minified)
//   gotty_py/static/BUNDLE_SOURCES_SHA256 (hash of the inputs; tests/test_frontend_bundle.py
//                                          compares it to catch a stale committed bundle)
//
// Usage: npm run build   (after npm ci). No source map: the bundle is committed and
// shipped, and the sources sit next to it in the repository.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = join(here, '..', 'gotty_py', 'static');

/** Files whose content decides the bundle. Keep in sync with tests/test_frontend_bundle.py. */
const HASHED_FILES = ['package.json', 'package-lock.json', 'build.mjs', 'tsconfig.json'];
const HASHED_DIRS = ['src'];

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

/**
 * SHA-256 of a manifest in `sha256sum` format ("<hex>  <path>\n" per file, paths relative
 * to frontend/ with '/' separators, sorted), so `cd frontend && sha256sum $(files) |
 * sha256sum` gives the same value by hand.
 */
export function sourcesDigest() {
  const paths = [
    ...HASHED_FILES,
    ...HASHED_DIRS.flatMap((dir) => listFiles(join(here, dir)).map((p) => relative(here, p))),
  ].map((p) => p.split(sep).join('/'));
  paths.sort();
  const manifest = paths
    .map((p) => `${createHash('sha256').update(readFileSync(join(here, p))).digest('hex')}  ${p}\n`)
    .join('');
  return createHash('sha256').update(manifest).digest('hex');
}

const banner = '/* gotty-py frontend: built from frontend/ by build.mjs; includes xterm.js and addons (MIT, notices at the end). */';

const common = {
  bundle: true,
  minify: true,
  legalComments: 'eof',
  logLevel: 'info',
  target: ['es2021', 'chrome100', 'firefox100', 'safari15'],
};

mkdirSync(join(staticDir, 'js'), { recursive: true });
mkdirSync(join(staticDir, 'css'), { recursive: true });

await esbuild.build({
  ...common,
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile: join(staticDir, 'js', 'gotty-bundle.js'),
  format: 'iife',
  platform: 'browser',
  banner: { js: banner },
});

await esbuild.build({
  ...common,
  entryPoints: [join(here, 'src', 'index.css')],
  outfile: join(staticDir, 'css', 'index.css'),
  banner: { css: '/* gotty-py page styles, with xterm.js\'s CSS (MIT). Built from frontend/src/index.css. */' },
});

writeFileSync(join(staticDir, 'BUNDLE_SOURCES_SHA256'), `${sourcesDigest()}\n`);
console.log('wrote', relative(process.cwd(), join(staticDir, 'BUNDLE_SOURCES_SHA256')));
