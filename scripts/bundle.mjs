#!/usr/bin/env node
/**
 * Bundles the CLI with esbuild into dist/bundle/ (run by `npm run build` and npm's prepare
 * step, after tsc). Why: `sslgate connect` is benchmarked from process start to the first ping
 * answered, against openconnect; unbundled, Node resolves, reads and compiles ~90 ES modules
 * before the first byte goes out. bin/sslgate runs dist/bundle/sslgate.js when it is present
 * and not older than the last tsc build, and dist/src/cli/main.js otherwise.
 *
 * Layout (all ESM, package.json "type": "module"):
 *   dist/bundle/sslgate.js           the CLI (src/cli/main.ts)
 *   dist/bundle/network-process.js   the gateway's network process, which the privileged process
 *                                    spawns from next to itself (src/gateway/priv/parent.ts)
 *   dist/bundle/<name>-<hash>.js     code split off behind the CLI's dynamic import()s, so
 *                                    `connect` does not parse the gateway, and shared code
 * Packages are bundled in; Node built-ins and the native addons (loaded by absolute path from
 * build/Release, src/os/native-addon.ts) are not.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');

/**
 * The client defers some of its modules with import() so that, unbundled, their loading overlaps
 * the first TLS handshake (src/client/run.ts). In the bundle each import() would become a chunk
 * of its own: ~30 files read and compiled one by one. These files' relative import()s become
 * static imports here, so `connect` is one chunk; import()'s semantics (a promise of the
 * module namespace) are kept.
 */
const STATIC_IN_BUNDLE = /[\\/]src[\\/](client[\\/]run|cli[\\/]connect)\.ts$/;
const staticImports = {
  name: 'static-imports',
  setup(b) {
    b.onLoad({ filter: STATIC_IN_BUNDLE }, (args) => {
      let src = readFileSync(args.path, 'utf8');
      const head = [];
      src = src.replace(/\bimport\((['"])(\.{1,2}\/[^'"]+)\1\)/g, (_m, _q, spec) => {
        const name = `__bundled${head.length}`;
        head.push(`import * as ${name} from ${JSON.stringify(spec)};`);
        return `Promise.resolve(${name})`;
      });
      return { contents: head.join('\n') + '\n' + src, loader: 'ts' };
    });
  },
};

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

rmSync(out, { recursive: true, force: true });
let build;
try {
  ({ build } = await import('esbuild'));
} catch (e) {
  // An install without devDependencies: bin/sslgate runs dist/src instead (slower start).
  process.stderr.write(`bundle: esbuild not available (${e.message.split('\n')[0]}); bin/sslgate will run dist/src\n`);
  process.exit(0);
}
await build({
  absWorkingDir: root,
  entryPoints: {
    sslgate: 'src/cli/main.ts',
    'network-process': 'src/gateway/priv/network-process.ts',
  },
  outdir: out,
  // Flat: chunks sit next to network-process.js, which src/gateway/priv/parent.ts finds as
  // new URL('./network-process.js', import.meta.url) from whichever chunk it landed in.
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Packages that ship both: take their ESM build (what Node itself would load).
  mainFields: ['module', 'main'],
  // A CommonJS package bundled into ESM calls require() for Node built-ins: give it one.
  banner: { js: "import { createRequire as __sslgateCreateRequire } from 'node:module'; const require = __sslgateCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  plugins: [staticImports, bundledXml],
  logLevel: 'warning',
  legalComments: 'none',
});
