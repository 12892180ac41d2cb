/**
 * The pieces `npm run fuzz` relies on (fuzz/engine, fuzz/targets/target.ts): a target lets only
 * the documented errors through, chunking covers the stream exactly, mutation is reproducible
 * from its seed and bounded, and coverage feedback sees new blocks (and only new ones).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockCoverage } from '../../fuzz/engine/coverage.js';
import { mutate } from '../../fuzz/engine/mutate.js';
import { Rng } from '../../fuzz/engine/rng.js';
import { allowing, ContractViolation, cuts } from '../../fuzz/targets/target.js';
import { HttpError } from '../../src/protocol/http.js';

const seed = Number(process.env['SSLGATE_TEST_SEED'] ?? Date.now() % 1_000_000);
console.log(`fuzz-engine test seed ${seed} (SSLGATE_TEST_SEED to repeat)`);

test('allowing() swallows the documented error class and nothing else', () => {
  const seen: Error[] = [];
  assert.equal(allowing([HttpError], () => { throw new HttpError(400, 'bad'); }, (e) => seen.push(e)), undefined);
  assert.equal(seen.length, 1);
  assert.throws(() => allowing([HttpError], () => { throw new TypeError('x is undefined'); }), TypeError);
  assert.throws(() => allowing([HttpError], () => { throw new ContractViolation('limit'); }), ContractViolation);
  assert.equal(allowing([HttpError], () => 7), 7);
});

test('cuts() splits a stream into pieces that add up to it, for every pattern byte', () => {
  const rng = new Rng(seed);
  const data = Buffer.from(Array.from({ length: 300 }, () => rng.below(256)));
  for (let p = 0; p < 256; p++) {
    const parts = cuts(data, p);
    assert.ok(parts.every((x) => x.length > 0), `pattern ${p}: empty piece`);
    assert.ok(Buffer.concat(parts).equals(data), `pattern ${p}`);
    if (p > 0) assert.ok(parts.length > 1, `pattern ${p} did not cut`);
  }
});

test('mutation is reproducible from the seed and never exceeds maxLen', () => {
  const run = (): Buffer[] => {
    const rng = new Rng(seed);
    const base: Buffer = Buffer.from('POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc');
    const ctx = { rng, maxLen: 64, dictionary: [Buffer.from('\r\n')], other: () => base };
    const out: Buffer[] = [];
    let cur: Buffer = base;
    for (let i = 0; i < 2000; i++) {
      cur = mutate(cur, ctx);
      assert.ok(cur.length <= 64, `length ${cur.length}`);
      out.push(Buffer.from(cur));
      if (cur.length === 0) cur = base;
    }
    return out;
  };
  const a = run();
  const b = run();
  assert.ok(a.every((x, i) => x.equals(b[i]!)));
  assert.ok(new Set(a.map((x) => x.toString('hex'))).size > 1000, 'mutations are not diverse');
});

test('block coverage reports blocks the first time they run, not the second', async () => {
  // A module of our own (URL contains /dist/src/protocol/cstp) with a branch only some inputs reach.
  const { CstpDecoder } = await import('../../src/protocol/cstp.js');
  const cov = new BlockCoverage(['/dist/src/protocol/cstp']);
  cov.reset();
  const decode = (b: Buffer): void => void new CstpDecoder(() => {}).push(b);
  decode(Buffer.from('5354460100000300', 'hex'));
  const first = cov.takeNew();
  assert.ok(first.length > 0, 'no blocks reported for code that ran');
  for (const f of first) cov.seen.add(f);
  decode(Buffer.from('5354460100000300', 'hex'));
  assert.deepEqual(cov.takeNew(), [], 'the same path again is not new');
  decode(Buffer.from('5854460100000300', 'hex')); // bad magic: the error branch
  assert.ok(cov.takeNew().length > 0, 'the bad-magic branch was not reported as new');
});
