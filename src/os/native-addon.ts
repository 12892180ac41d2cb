/**
 * Loading the package's Node-API addons (build/Release/<name>.node, built by
 * scripts/build-addon.sh from native/). Used by os/tun.ts (sslgate_tun, required) and
 * os/dtls-record-addon.ts (sslgate_dtls, optional); each caches the result and words its own
 * error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Why loadAddon failed. */
export class AddonLoadError extends Error {
  /** The .node file that failed to load; null when the sslgate package root was not found. */
  readonly path: string | null;
  constructor(message: string, path: string | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AddonLoadError';
    this.path = path;
  }
}

/**
 * Walks up from this file (src/os/, dist/src/os/, or the bundle in dist/bundle/ or
 * dist/bundle/chunks/) to the directory whose package.json is sslgate's, or null.
 */
export function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'sslgate') return dir;
    } catch {
      // no (readable) package.json here: keep walking
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * Loads `<package root>/build/Release/<name>.node`. The caller states its type (`T`): nothing
 * checks it. Throws AddonLoadError (the loader's error as `cause`).
 */
export function loadAddon<T>(name: string): T {
  const root = packageRoot();
  if (root === null) throw new AddonLoadError('sslgate package root not found', null);
  const path = join(root, 'build', 'Release', `${name}.node`);
  try {
    return createRequire(import.meta.url)(path) as T;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new AddonLoadError(`cannot load ${path}: ${why.split('\n')[0]}`, path, { cause });
  }
}
