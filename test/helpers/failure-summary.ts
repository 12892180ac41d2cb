// A second reporter for `node --test` (scripts/test.sh): after the run, one short block per
// failed test (its file, its name with its parents, and the start of its error).
//
// Why: a CI system may keep only the tail of a long run's output. The TAP stream puts a
// failure's details where it happened, hundreds of tests before the end, so a failed run whose
// tail shows only `# fail 2` cannot be diagnosed. This block comes last, where the tail is.
import { formatFailure, type FailureRecord } from './failure-format.js';

/** Node's test events as far as this reporter reads them (node:test reporters get plain objects). */
interface TestEvent {
  type: string;
  data?: {
    name?: unknown;
    nesting?: unknown;
    file?: unknown;
    details?: { error?: unknown; type?: unknown };
  };
}

/** node:test's failureType on its ERR_TEST_FAILURE wrapper ('subtestsFailed', 'testCodeFailure', ...). */
function failureType(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { failureType?: unknown }).failureType : undefined;
}

export default async function* failureSummary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const failures: FailureRecord[] = [];
  // The names of the tests being run, by nesting level, to give a failure its parents. Node reports
  // a test's start before its children's, per file; files run in parallel interleave, so the
  // stack is kept per file.
  const started = new Map<string, string[]>();
  for await (const event of source) {
    const data = event.data;
    if (data === undefined) continue;
    const file = typeof data.file === 'string' ? data.file : '(no file)';
    const nesting = typeof data.nesting === 'number' ? data.nesting : 0;
    const name = typeof data.name === 'string' ? data.name : String(data.name);
    if (event.type === 'test:start') {
      const stack = started.get(file) ?? [];
      stack.length = nesting;
      stack.push(name);
      started.set(file, stack);
    } else if (event.type === 'test:fail') {
      // A suite, or a test, that failed only because a subtest did: the subtest's entry says why.
      if (data.details?.type === 'suite' || failureType(data.details?.error) === 'subtestsFailed') continue;
      const parents = (started.get(file) ?? []).slice(0, nesting);
      failures.push({ file, path: [...parents, name], error: data.details?.error });
    }
  }
  if (failures.length === 0) return;
  yield `\n# ---- ${failures.length} failed test${failures.length === 1 ? '' : 's'} (details above, in the TAP stream) ----\n`;
  for (const f of failures) yield formatFailure(f);
}
