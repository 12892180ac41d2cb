#!/usr/bin/env node
/**
 * Bundles the CLI with esbuild into dist/bundle/ (run by `npm run build`, npm's prepare step and
 * scripts/test.sh, after tsc). Why: `sslgate connect` is benchmarked from process start to the
 * first ping answered, against openconnect; unbundled, Node resolves, reads and compiles ~90 ES
 * modules before the first byte goes out. bin/sslgate runs the bundle when it is present and not
 * older than the last tsc build, and dist/src/cli/main.js otherwise.
 *
 *   dist/bundle/sslgate.cjs          the whole CLI, one CommonJS file: CommonJS because Node 20
 *                                    can compile a script, not an ES module, with a V8 code cache
 *   dist/bundle/sslgate.cjs.cache    that code cache, written by a training run below
 *   dist/bundle/network-process.js   the gateway's network process (ESM), which the privileged
 *                                    process spawns from next to itself (gateway/priv/parent.ts)
 *
 * Measured before the first byte of `sslgate connect` (callgrind, instructions above `node -e 0`):
 * dist/src ~330M; ESM bundle split per command ~215M; one CommonJS file ~335M without the code
 * cache (it parses the gateway too) and ~145M with it. Packages are bundled in; Node built-ins
 * and the native addons (loaded by absolute path from build/Release, os/native-addon.ts) are not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');

/**
 * Up to date: the bundle is not older than tsc's last emit (any src/ change rewrites
 * dist/.tsbuildinfo), this script, bin/sslgate (which trains the cache) and the lock file. Then
 * nothing is rebuilt: test runs and benchmarks in the same checkout keep using the files.
 */
const mtime = (f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs;
const made = Math.min(mtime(join(out, 'sslgate.cjs')) ?? -1, mtime(join(out, 'sslgate.cjs.cache')) ?? -1, mtime(join(out, 'network-process.js')) ?? -1);
const inputs = [join(root, 'dist', '.tsbuildinfo'), fileURLToPath(import.meta.url), join(root, 'bin', 'sslgate'), join(root, 'package-lock.json')];
if (!process.argv.includes('--force') && made >= 0 && inputs.every((f) => (mtime(f) ?? Infinity) <= made)) process.exit(0);

rmSync(out, { recursive: true, force: true });
let build;
try {
  ({ build } = await import('esbuild'));
} catch (e) {
  // An install without devDependencies: bin/sslgate runs dist/src instead (slower start).
  process.stderr.write(`bundle: esbuild not available (${e.message.split('\n')[0]}); bin/sslgate will run dist/src\n`);
  process.exit(0);
}

/** src/protocol/fast-xml-parser.ts loads the package with require() at run time; bundle it in. */
const bundledXml = {
  name: 'bundled-fast-xml-parser',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]protocol[\\/]fast-xml-parser\.ts$/ }, () => ({
      contents: "export { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';",
      loader: 'ts',
      resolveDir: join(root, 'src', 'protocol'),
    }));
  },
};

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Packages that ship both: their ESM build (what Node itself would load; tree-shaken here).
  mainFields: ['module', 'main'],
  plugins: [bundledXml],
  // Native/CommonJS packages of the state store (issue 12): loaded from node_modules at run time
  // (better-sqlite3 finds its compiled addon relative to its own files).
  external: ['better-sqlite3', 'ioredis'],
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
};

await build({
  ...common,
  entryPoints: ['src/cli/bundle-main.ts'],
  outfile: join(out, 'sslgate.cjs'),
  format: 'cjs',
  // ASCII only (non-ASCII escaped, esbuild's default made explicit): bin/sslgate reads the file as
  // latin1, a plain byte copy, instead of decoding 2 MB of UTF-8 on every start.
  charset: 'ascii',
  // The modules behind the CLI's import()s are inlined and run only when imported, so `connect`
  // runs no gateway code; with the code cache it does not parse it either.
  // import.meta.url (native-addon.ts finds the package root from it; parent.ts finds
  // network-process.js next to it) becomes this file's URL.
  define: { 'import.meta.url': '__sslgateImportMetaUrl' },
  banner: { js: "'use strict';\nconst __sslgateImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});

await build({
  ...common,
  entryPoints: { 'network-process': 'src/gateway/priv/network-process.ts' },
  outdir: out,
  format: 'esm',
  // A CommonJS package bundled into ESM calls require() for Node built-ins: give it one.
  banner: { js: "import { createRequire as __sslgateCreateRequire } from 'node:module'; const require = __sslgateCreateRequire(import.meta.url);" },
});

/**
 * The code cache: V8's compiled code for the bundle after a training run that goes as far as a
 * connect can without a gateway (argument parsing, the client's set-up, TLS context, a TCP
 * connect refused on 127.0.0.1:1), written by bin/sslgate at exit. A cache V8 rejects (other
 * Node, other flags) only costs the compile it would have saved.
 */
const cache = join(out, 'sslgate.cjs.cache');
const train = spawnSync(
  process.execPath,
  [join(root, 'bin', 'sslgate'), 'connect', 'https://127.0.0.1:1/', '--non-inter', '--user', 'x', '--servercert', 'pin-sha256:' + 'A'.repeat(43) + '=', '--prefs-dir', join(out, '.train-prefs')],
  { env: { ...process.env, SSLGATE_CODE_CACHE_WRITE: '1' }, input: '', encoding: 'utf8', timeout: 60_000 },
);
rmSync(join(out, '.train-prefs'), { recursive: true, force: true });
if (!existsSync(cache)) {
  process.stderr.write(`bundle: no code cache written (training run: exit ${train.status}, ${(train.stderr ?? '').trim().split('\n').pop()}); the bundle runs without it\n`);
}
