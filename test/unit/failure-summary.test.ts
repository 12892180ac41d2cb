// The failure summary printed at the end of `npm test` (test/helpers/failure-summary.ts): a CI
// log that keeps only its tail must still say which tests failed and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import failureSummary from '../helpers/failure-summary.js';
import { formatFailure } from '../helpers/failure-format.js';

async function run(events: Array<{ type: string; data?: Record<string, unknown> }>): Promise<string> {
  async function* source() {
    for (const e of events) yield e;
  }
  let out = '';
  for await (const chunk of failureSummary(source())) out += chunk;
  return out;
}

function wrapped(message: string): Error {
  // As node:test reports a failed test: ERR_TEST_FAILURE whose cause is the test's own error.
  const outer = new Error('test failed', { cause: new assert.AssertionError({ message }) });
  (outer as Error & { code: string }).code = 'ERR_TEST_FAILURE';
  return outer;
}

test('no failure, no summary', async () => {
  const out = await run([
    { type: 'test:start', data: { name: 'a', nesting: 0, file: 'x.js' } },
    { type: 'test:pass', data: { name: 'a', nesting: 0, file: 'x.js', details: {} } },
  ]);
  assert.equal(out, '');
});

test('each failed test: its file, its parents, and its own error (not the wrapper)', async () => {
  const out = await run([
    { type: 'test:start', data: { name: 'suite A', nesting: 0, file: 'a.js' } },
    { type: 'test:start', data: { name: 'other file test', nesting: 0, file: 'b.js' } },
    { type: 'test:start', data: { name: 'child 1', nesting: 1, file: 'a.js' } },
    { type: 'test:fail', data: { name: 'child 1', nesting: 1, file: 'a.js', details: { error: wrapped('ping lost') } } },
    { type: 'test:fail', data: { name: 'other file test', nesting: 0, file: 'b.js', details: { error: wrapped('boom') } } },
    // The suite's own failure repeats its child's: left out; so does a test's whose subtest failed.
    { type: 'test:fail', data: { name: 'suite A', nesting: 0, file: 'a.js', details: { type: 'suite', error: wrapped('1 subtest failed') } } },
    { type: 'test:fail', data: { name: 'parent', nesting: 0, file: 'c.js', details: { error: Object.assign(new Error('2 subtests failed'), { code: 'ERR_TEST_FAILURE', failureType: 'subtestsFailed' }) } } },
  ]);
  assert.match(out, /---- 2 failed tests/);
  assert.match(out, /# FAILED a\.js\n#   suite A > child 1\n#     AssertionError.*ping lost/);
  assert.match(out, /# FAILED b\.js\n#   other file test\n#     AssertionError.*boom/);
  assert.doesNotMatch(out, /test failed/);
  assert.doesNotMatch(out, /1 subtest failed|2 subtests failed/);
});

test('odd errors: strings, objects without a stack, cause cycles, long lines are clipped', () => {
  assert.match(formatFailure({ file: 'f', path: ['t'], error: 'plain string' }), /#     plain string/);
  assert.match(formatFailure({ file: 'f', path: ['t'], error: { message: 'm', name: 'N' } }), /#     N: m/);
  const a: Error & { cause?: unknown } = new Error('a');
  a.cause = a;
  const cyc = formatFailure({ file: 'f', path: ['t'], error: a });
  assert.ok(cyc.split('\n').length < 60, 'a cause cycle is followed a bounded number of times');
  const long = formatFailure({ file: 'f', path: ['t'], error: 'x'.repeat(5000) });
  assert.ok(long.split('\n').every((l) => l.length < 400));
  const many = formatFailure({ file: 'f', path: ['t'], error: Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') });
  assert.doesNotMatch(many, /line 50/);
  assert.match(formatFailure({ file: 'f', path: ['t'], error: undefined }), /# FAILED f/);
  // A failed test file has only node's wrapper: its words are kept.
  const fileFail = Object.assign(new Error('test failed'), { code: 'ERR_TEST_FAILURE' });
  assert.match(formatFailure({ file: 'f', path: ['f'], error: fileFail }), /#     Error: test failed/);
  // Frames inside node's runner are dropped; the test's own are kept.
  const framed = { message: 'm', stack: 'Error: m\n    at TestContext.<anonymous> (file:///t.js:1:2)\n    at Test.run (node:internal/test_runner/test:796:25)\n    at node:internal/x:1:1\n    at new Promise (<anonymous>)' };
  const out = formatFailure({ file: 'f', path: ['t'], error: framed });
  assert.match(out, /file:\/\/\/t\.js/);
  assert.doesNotMatch(out, /node:internal|Promise/);
});
