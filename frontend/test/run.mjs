// Runs the unit tests of the pure modules (protocol, address, preferences, utf8, close
// messages) under Node's built-in test runner. The tests are plain JavaScript importing
// the TypeScript sources; esbuild bundles each one first, since Node cannot load .ts.
//
// Usage: npm test
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = mkdtempSync(join(tmpdir(), 'gotty-frontend-test-'));
try {
  const entryPoints = readdirSync(here)
    .filter((name) => name.endsWith('.test.mjs'))
    .map((name) => join(here, name));
  await esbuild.build({
    entryPoints,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  const built = readdirSync(outdir).map((name) => join(outdir, name));
  const result = spawnSync(process.execPath, ['--test', ...built], { stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
