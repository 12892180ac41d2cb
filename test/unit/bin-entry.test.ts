/**
 * bin/sslgate picks the bundled CLI (dist/bundle/sslgate.cjs) when it is there and not older than
 * tsc's last output (dist/.tsbuildinfo), and the compiled modules (dist/src) otherwise or with
 * SSLGATE_NO_BUNDLE=1. Run in throw-away copies of the layout (test/helpers/bin-layout.ts); a
 * stand-in bundle prints a marker, the real dist/src prints the version.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { readExtraCaFile, takeDeferredExtraCaFile } from '../../src/client/deferred-extra-ca.js';
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

// What the stand-in bundle saw of the two variables, and its arguments.
const SHOW_ENV = `process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), node: process.env.NODE_EXTRA_CA_CERTS ?? null, deferred: process.env.SSLGATE_DEFERRED_EXTRA_CA_CERTS ?? null }));\n`;

test('bin/sslgate run as a command: NODE_EXTRA_CA_CERTS deferred past Node\'s start for connect only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `sslgate-binextra-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { bin } = makeBinLayout(join(dir, 'layout'), { kind: 'fresh', marker: '', body: SHOW_ENV });
  const caFile = join(dir, 'extra.pem');
  writeFileSync(caFile, rootCertificates[0]!);
  const env: NodeJS.ProcessEnv = { ...process.env, SSLGATE_NO_BUNDLE: '', NODE_EXTRA_CA_CERTS: caFile };
  delete env['SSLGATE_DEFERRED_EXTRA_CA_CERTS'];
  const seen = (file: string, args: string[], e: NodeJS.ProcessEnv = env): { argv: string[]; node: string | null; deferred: string | null } =>
    JSON.parse(execFileSync(file, args, { encoding: 'utf8', env: e }));

  await t.test('connect: handed over, arguments (spaces, quotes) intact', () => {
    const args = ['connect', 'https://vpn.example/a b', "--user=o'brien", ''];
    assert.deepEqual(seen(bin, args), { argv: args, node: null, deferred: caFile });
  });
  await t.test('other commands keep it', () => {
    assert.deepEqual(seen(bin, ['serve', '--config', 'x']), { argv: ['serve', '--config', 'x'], node: caFile, deferred: null });
  });
  await t.test('connect without the variable: nothing to hand over', () => {
    const { NODE_EXTRA_CA_CERTS: _drop, ...without } = env;
    assert.deepEqual(seen(bin, ['connect'], without), { argv: ['connect'], node: null, deferred: null });
  });
  await t.test('run as `node bin/sslgate`: the shell line is a no-op string and comment', () => {
    assert.deepEqual(seen(process.execPath, [bin, 'connect']), { argv: ['connect'], node: caFile, deferred: null });
  });
});

test('takeDeferredExtraCaFile / readExtraCaFile', async (t) => {
  await t.test('takes the deferred name once and restores NODE_EXTRA_CA_CERTS for children', () => {
    const env: NodeJS.ProcessEnv = { SSLGATE_DEFERRED_EXTRA_CA_CERTS: '/x.pem' };
    assert.equal(takeDeferredExtraCaFile(env), '/x.pem');
    assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/x.pem' });
    assert.equal(takeDeferredExtraCaFile(env), undefined);
    assert.equal(takeDeferredExtraCaFile({ SSLGATE_DEFERRED_EXTRA_CA_CERTS: '' }), undefined);
  });
  await t.test('an unreadable or certificate-less file is ignored with a warning, as Node does', () => {
    const warnings: string[] = [];
    assert.equal(readExtraCaFile('/nonexistent/sslgate-extra.pem', (m) => warnings.push(m)), undefined);
    const dir = mkdtempSync(join(tmpdir(), `sslgate-extraca-${process.pid}-`));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    assert.equal(readExtraCaFile(join(dir, 'junk.pem'), (m) => warnings.push(m)), undefined);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /ENOENT/);
    assert.match(warnings[1]!, /no PEM certificate/);
    writeFileSync(join(dir, 'ok.pem'), rootCertificates[0]!);
    assert.equal(readExtraCaFile(join(dir, 'ok.pem'), (m) => warnings.push(m)), rootCertificates[0]);
  });
});
