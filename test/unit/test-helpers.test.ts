/**
 * The test-hygiene helpers themselves: the seeded stream replays from SSLGATE_TEST_SEED, and a
 * missing prerequisite skips outside CI but fails the file under CI=true. Each case runs in a
 * child process, which has its own seed and environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SEED_JS = fileURLToPath(new URL('../helpers/seed.js', import.meta.url));
const NETNS_JS = fileURLToPath(new URL('../helpers/netns.js', import.meta.url));

function run(code: string, env: Record<string, string | undefined>, testRunner = false): { code: number | null; out: string; err: string } {
  const clean = { ...process.env };
  delete clean['CI'];
  delete clean['SSLGATE_TEST_SEED'];
  delete clean['NODE_TEST_CONTEXT']; // set by the parent runner: the child would report in its binary protocol
  // a file of node:test tests run directly reports in TAP (stdout is not a terminal) and exits 1 on a failure
  const args = testRunner ? ['--test-reporter=tap', '--input-type=module', '-e', code] : ['--input-type=module', '-e', code];
  const r = spawnSync(process.execPath, args, { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('seed: printed once; the same seed gives the same bytes, another seed or label other bytes', () => {
  const code = `import { seeded } from ${JSON.stringify(SEED_JS)};
    const a = seeded('one'); const b = seeded('two');
    console.log(JSON.stringify([a.bytes(16).toString('hex'), a.int(1000), b.bytes(16).toString('hex')]));`;
  const first = run(code, {});
  assert.equal(first.code, 0, first.err);
  const m = /^test seed: ([0-9a-f]{16}) \(replay: SSLGATE_TEST_SEED=\1\)$/m.exec(first.err);
  assert.ok(m, `seed not logged: ${first.err}`);
  assert.equal(first.err.match(/test seed:/g)?.length, 1, 'logged once per process');
  const replay = run(code, { SSLGATE_TEST_SEED: m[1] });
  assert.equal(replay.out, first.out, 'the logged seed replays the same inputs');
  const [x, , y] = JSON.parse(first.out) as [string, number, string];
  assert.notEqual(x, y, 'labels have their own streams');
  const other = run(code, { SSLGATE_TEST_SEED: 'abc' });
  assert.notEqual(other.out, first.out);
  const bad = run(code, { SSLGATE_TEST_SEED: 'not hex!' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /SSLGATE_TEST_SEED must be 1-64 hex digits/);
});

test('prerequisites: a missing peer skips the test outside CI and fails the file under CI=true', () => {
  const code = `import { test } from 'node:test';
    import { interopSkipReason } from ${JSON.stringify(NETNS_JS)};
    test('needs a peer', { skip: interopSkipReason(['sslgate-no-such-peer']) }, () => {});`;
  const local = run(code, {}, true);
  assert.equal(local.code, 0, local.out + local.err);
  assert.match(local.out, /^# skipped 1$/m);
  assert.match(local.out, /^# fail 0$/m);
  const ci = run(code, { CI: 'true' }, true);
  assert.notEqual(ci.code, 0, 'CI=true: the file fails');
  assert.match(ci.out, /^# fail 1$/m);
  assert.match(ci.out, /CI=true and interop tests needing root, sslgate-no-such-peer cannot run: (missing programs: sslgate-no-such-peer|interop tests need root)/);
});

test('exit guard (scripts/test.sh --import): a file that leaves a server open fails naming it; a clean one passes whole', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'sslgate-exitguard-'));
  try {
    const guard = fileURLToPath(new URL('../helpers/exit-guard.js', import.meta.url));
    const body = (leak: boolean) => `import { test } from 'node:test'; import net from 'node:net';
      for (let i = 0; i < 40; i++) test('t' + i, () => {});
      test('last', () => { const s = net.createServer().listen(0, '127.0.0.1'); ${leak ? '' : 's.close();'} });`;
    writeFileSync(join(dir, 'leaky.test.mjs'), body(true));
    writeFileSync(join(dir, 'clean.test.mjs'), body(false));
    const clean: NodeJS.ProcessEnv = { ...process.env, SSLGATE_TEST_EXIT_GRACE_MS: '500' };
    delete clean['NODE_TEST_CONTEXT']; // the child would report in the parent runner's binary protocol
    const runFile = (f: string) =>
      spawnSync(process.execPath, ['--test', '--test-reporter=tap', '--import', guard, join(dir, f)], { env: clean, encoding: 'utf8', timeout: 60_000 });
    const leaky = runFile('leaky.test.mjs');
    assert.notEqual(leaky.status, 0, 'a file held open must fail the run');
    assert.match(leaky.stdout, /exit-guard: .* still held open .* TCPServerWrap/);
    assert.match(leaky.stdout, /# pass 41/, 'every verdict arrives before the guard ends the file');
    const ok = runFile('clean.test.mjs');
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /# pass 41\n# fail 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
