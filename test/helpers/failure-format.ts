// One failed test as a short text block for the end of a run (failure-summary.ts), kept pure so
// it can be unit tested: the file, the test's name with its parents, and the first lines of
// its error and of the error's cause (node:test wraps a test's own error as the cause of an
// ERR_TEST_FAILURE).

export interface FailureRecord {
  file: string;
  /** The test's name, after its parents' names. */
  path: string[];
  error: unknown;
}

/** Lines of one error message kept, and characters per line: a summary, not the whole stack. */
const MAX_LINES = 12;
const MAX_LINE_CHARS = 300;
/** How deep a chain of causes is followed (a cycle must not loop). */
const MAX_CAUSES = 3;

export function formatFailure(f: FailureRecord): string {
  const lines = [`# FAILED ${f.file}`, `#   ${f.path.join(' > ')}`];
  let err: unknown = f.error;
  for (let depth = 0; depth < MAX_CAUSES && err !== undefined && err !== null; depth++) {
    const cause = typeof err === 'object' ? (err as { cause?: unknown }).cause : undefined;
    // Node's wrapper says only "test failed"; its cause, when there is one, has the test's own
    // words. Without one (a test file whose process failed) the wrapper and its exit are all there is.
    if (!(depth === 0 && isTestFailureWrapper(err) && cause !== undefined && cause !== null)) {
      const text = describe(err) + exitOf(err);
      const kept = text.split('\n').filter((l) => !isRunnerFrame(l));
      for (const line of kept.slice(0, MAX_LINES)) lines.push(`#     ${clip(line)}`);
    }
    err = cause;
  }
  return lines.join('\n') + '\n';
}

function isTestFailureWrapper(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_TEST_FAILURE';
}

function describe(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as { name?: unknown; message?: unknown; stack?: unknown };
    // The stack starts with "Name: message" and says where; fall back to the message alone.
    if (typeof e.stack === 'string' && e.stack.length > 0) return e.stack;
    return `${String(e.name ?? 'Error')}: ${String(e.message)}`;
  }
  return String(err);
}

/** A stack frame inside Node's own test runner or promise machinery: no news about the test. */
function isRunnerFrame(line: string): boolean {
  return /^\s+at (.*\()?node:/.test(line) || /^\s+at new \w*Promise \(<anonymous>\)$/.test(line);
}

/** A failed test file's exit code or signal, which node:test puts on its wrapper error. */
function exitOf(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const { exitCode, signal } = err as { exitCode?: unknown; signal?: unknown };
  const parts: string[] = [];
  if (typeof exitCode === 'number') parts.push(`exit code ${exitCode}`);
  if (typeof signal === 'string') parts.push(`signal ${signal}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

function clip(line: string): string {
  return line.length <= MAX_LINE_CHARS ? line : `${line.slice(0, MAX_LINE_CHARS)}…`;
}
