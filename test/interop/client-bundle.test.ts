/**
 * Issue 11 (client start-up): the bundled CLI (dist/bundle/sslgate.cjs, scripts/bundle.mjs) runs
 * `sslgate connect` end to end against Debian's ocserv: tunnel up, ping answered through it,
 * clean exit on Ctrl-C; run directly (plain require, no code cache) and through bin/sslgate (V8
 * code cache, which this Node must accept). And bin/sslgate without a bundle (a copy of the
 * layout with dist/src only) does the same from the compiled modules: the fallback still works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { startOcserv, type OcservServer } from '../helpers/ocserv.js';
import { makeBinLayout, REPO_ROOT } from '../helpers/bin-layout.js';
import { startClient, type SslgateClient } from './client-harness.js';

const skip = interopSkipReason(['ocserv', 'ocpasswd', 'openssl', 'ping', 'ip']);
const BUNDLE = path.join(REPO_ROOT, 'dist', 'bundle', 'sslgate.cjs');

test('sslgate connect from the bundle and from the dist/src fallback -> ocserv', { skip, timeout: 120_000 }, async (t) => {
  let tb: Testbed | undefined;
  let server: OcservServer | undefined;
  const running = new Set<SslgateClient>();
  t.after(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'clbun' });
  server = await startOcserv(tb.gw, { listenHost: tb.gwAddr, ipv4Network: tb.poolNet(0), udpPort: 0, groups: [{ name: 'Employees' }] });
  const base = { url: server.url, prefsDir: tempDir('clbun-prefs'), user: 'alice', servercert: [server.pin], passwords: ['secret'], authgroup: 'Employees' };

  const connectAndPing = async (entry: string, iface: string): Promise<void> => {
    const c = startClient(tb!.cl, { ...base, entry, iface });
    running.add(c);
    await c.waitTunnel();
    assert.ok(await tb!.cl.ping(server!.tunAddr, { count: 2, timeoutMs: 10_000 }), `no ping answer through the tunnel\n${c.proc.tail()}`);
    const st = await c.stop();
    running.delete(c);
    assert.equal(st.code, 0, `exit ${JSON.stringify(st)}\n${c.proc.tail()}`);
  };

  await t.test('the bundle is built and is what bin/sslgate runs here (not older than tsc output)', () => {
    assert.ok(fs.existsSync(BUNDLE), `${BUNDLE} missing: npm run build (esbuild) did not bundle`);
    const tsc = fs.statSync(path.join(REPO_ROOT, 'dist', '.tsbuildinfo')).mtimeMs;
    assert.ok(fs.statSync(BUNDLE).mtimeMs >= tsc, 'the bundle is older than the last tsc build: bin/sslgate would fall back');
    // bin/sslgate, started as the tests and the benchmark start it, says whether V8 took the
    // code cache that the build's training run wrote.
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'sslgate'), '--version'], { env: { ...process.env, SSLGATE_CODE_CACHE_REPORT: '1', SSLGATE_NO_BUNDLE: '' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^code cache: accepted$/m);
  });

  await t.test('node dist/bundle/sslgate.cjs connect (plain require, no code cache): tunnel, ping, clean exit', async () => {
    await connectAndPing(BUNDLE, 'sgbun0');
  });

  await t.test('bin/sslgate connect (the bundle with its code cache): tunnel, ping, clean exit', async () => {
    await connectAndPing(path.join(REPO_ROOT, 'bin', 'sslgate'), 'sgbun2');
  });

  await t.test('bin/sslgate with no bundle (dist/src): tunnel, ping, clean exit', async () => {
    const layout = makeBinLayout(path.join(tempDir('clbun-layout'), 'pkg'), { kind: 'none' });
    await connectAndPing(layout.bin, 'sgbun1');
  });
});
