/**
 * bin/sslgate picks the bundled CLI (dist/bundle/sslgate.cjs) when it is there and not older than
 * tsc's last output (dist/.tsbuildinfo), and the compiled modules (dist/src) otherwise or with
 * SSLGATE_NO_BUNDLE=1. Run in throw-away copies of the layout (test/helpers/bin-layout.ts); a
 * stand-in bundle prints a marker, the real dist/src prints the version.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { makeBinLayout } from '../helpers/bin-layout.js';

const MARKER = 'stand-in bundle ran';

function run(bin: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env: { ...process.env, SSLGATE_NO_BUNDLE: '', ...env } }).trim();
}

test('bin/sslgate: bundle present and fresh, stale, missing, or turned off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `sslgate-binentry-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  await t.test('fresh bundle: runs it', () => {
    assert.equal(run(makeBinLayout(join(dir, 'fresh'), { kind: 'fresh', marker: MARKER }).bin), MARKER);
  });
  await t.test('bundle older than the last tsc build: runs dist/src', () => {
    assert.equal(run(makeBinLayout(join(dir, 'stale'), { kind: 'stale', marker: MARKER }).bin), VERSION);
  });
  await t.test('no bundle: runs dist/src', () => {
    assert.equal(run(makeBinLayout(join(dir, 'none'), { kind: 'none' }).bin), VERSION);
  });
  await t.test('SSLGATE_NO_BUNDLE=1: runs dist/src even with a fresh bundle', () => {
    assert.equal(run(makeBinLayout(join(dir, 'off'), { kind: 'fresh', marker: MARKER }).bin, { SSLGATE_NO_BUNDLE: '1' }), VERSION);
  });
});
