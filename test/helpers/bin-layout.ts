/**
 * A throw-away copy of the package layout bin/sslgate looks at (bin/, dist/src/, dist/bundle/,
 * dist/.tsbuildinfo), to run bin/sslgate with its bundle present, missing or stale without
 * touching the checkout's dist/ (test files run in parallel and share it). dist/src is a symlink
 * to the real compiled tree; Node resolves it to the real path, so the addons are found.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface BinLayout {
  root: string;
  bin: string;
}

/**
 * bundle: 'none' (no dist/bundle), or a stand-in bundle that prints `marker` and exits 0 (or runs
 * `body`, JavaScript), written 'fresh' (newer than dist/.tsbuildinfo) or 'stale' (older).
 */
export function makeBinLayout(dir: string, bundle: { kind: 'none' } | { kind: 'fresh' | 'stale'; marker: string; body?: string }): BinLayout {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  const bin = path.join(dir, 'bin', 'sslgate');
  fs.copyFileSync(path.join(REPO_ROOT, 'bin', 'sslgate'), bin);
  fs.symlinkSync(path.join(REPO_ROOT, 'dist', 'src'), path.join(dir, 'dist', 'src'));
  const info = path.join(dir, 'dist', '.tsbuildinfo');
  fs.writeFileSync(info, '{}');
  if (bundle.kind !== 'none') {
    const file = path.join(dir, 'dist', 'bundle', 'sslgate.cjs');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bundle.body ?? `process.stdout.write(${JSON.stringify(bundle.marker + '\n')});\n`);
    const now = Date.now() / 1000;
    // A minute apart: no file system's timestamp granularity blurs the order.
    fs.utimesSync(info, now, now);
    const t = bundle.kind === 'fresh' ? now + 60 : now - 60;
    fs.utimesSync(file, t, t);
  }
  return { root: dir, bin };
}
