/**
 * Every input `npm run fuzz` found that broke a parser's contract, replayed through the same fuzz
 * target (fuzz/targets/): test/fixtures/fuzz-crashes/<target>/<what-it-was>.bin. A target throws
 * only on a contract violation, so "does not throw" is the whole assertion; the native opener
 * runs in a child process because its failure mode was a segfault. Plus direct checks of the
 * parser behaviour each fix established.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findTarget } from '../../fuzz/targets/index.js';
import { parseClientHello, parseServerHello } from '../../src/dtls/messages.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/unit
const repo = resolve(here, '../../..');
const fixtures = join(repo, 'test/fixtures/fuzz-crashes');
/** Targets whose inputs replay in a child process (native code: a crash must not kill the runner). */
const IN_CHILD = new Set(['native-record']);

const cases = readdirSync(fixtures).flatMap((target) => readdirSync(join(fixtures, target)).map((file) => ({ target, file })));

test('there are regression inputs to replay', () => {
  assert.ok(cases.length >= 2, `only ${cases.length} inputs under ${fixtures}`);
});

for (const { target, file } of cases) {
  test(`fuzz regression ${target}/${file}`, () => {
    const path = join(fixtures, target, file);
    if (!IN_CHILD.has(target)) {
      findTarget(target).run(readFileSync(path)); // throws on a contract violation
      return;
    }
    const targets = join(repo, 'dist/fuzz/targets/index.js');
    const script = `import(${JSON.stringify(targets)}).then((m) => m.findTarget(${JSON.stringify(target)}).run(require('node:fs').readFileSync(${JSON.stringify(path)})))`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, SSLGATE_FUZZ_SHORT_RECORDS: '1' } });
    assert.equal(r.signal, null, `the target died with ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
  });
}

// ServerHello from the fuzzer: extensions block "00 05 ff01 fefd dc" (an extension claiming 65277
// bytes inside a 5-byte block). It used to parse as a hello with no extensions.
test('a hello whose extensions block is malformed is refused, not read as having no extensions', () => {
  const head = Buffer.concat([Buffer.from('fefd', 'hex'), Buffer.alloc(32, 1), Buffer.from([0])]);
  const good = Buffer.concat([head, Buffer.from('00a9 00'.replace(/ /g, ''), 'hex'), Buffer.from('0005 ff01 0001 00'.replace(/ /g, ''), 'hex')]);
  assert.deepEqual(parseServerHello(good)?.extensions, [{ type: 0xff01, data: Buffer.from([0]) }]);
  const bad = Buffer.concat([head, Buffer.from('00a9 00'.replace(/ /g, ''), 'hex'), Buffer.from('0005 ff01 fefd dc'.replace(/ /g, ''), 'hex')]);
  assert.equal(parseServerHello(bad), null);
  const dup = Buffer.concat([head, Buffer.from('00a9 00'.replace(/ /g, ''), 'hex'), Buffer.from('0008 0017 0000 0017 0000'.replace(/ /g, ''), 'hex')]);
  assert.equal(parseServerHello(dup), null, 'a duplicated extension');
  const ch = Buffer.concat([head, Buffer.from('00 0002 00a9 0100'.replace(/ /g, ''), 'hex'), Buffer.from('0003 0017 00'.replace(/ /g, ''), 'hex')]);
  assert.equal(parseClientHello(ch), null, 'a truncated extension in a ClientHello');
  const chOk = Buffer.concat([head, Buffer.from('00 0002 00a9 0100'.replace(/ /g, ''), 'hex'), Buffer.from('0004 0017 0000'.replace(/ /g, ''), 'hex')]);
  assert.deepEqual(parseClientHello(chOk)?.extensions, [{ type: 0x17, data: Buffer.alloc(0) }]);
});
