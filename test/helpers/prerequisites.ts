/**
 * What a test needs from the machine (root, peer programs, a built addon). On a developer's
 * machine a missing prerequisite skips the test with the reason; under CI (`CI=true`, which CI
 * sets) it FAILS: a suite whose interop tests all skipped would otherwise pass without having
 * tested anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

export function underCi(): boolean {
  return /^(1|true|yes)$/i.test(process.env['CI'] ?? '');
}

/**
 * `reason` is why the tests named `what` cannot run (false: they can). Returns the value for
 * `test(name, { skip })`: the reason outside CI; under CI the tests are skipped as well (running
 * them without their peer only adds noise) and a test that fails with the reason is registered
 * in their place, so the file fails.
 */
export function prerequisite(what: string, reason: string | false): string | false {
  if (reason === false) return false;
  if (!underCi()) return reason;
  test(`prerequisites of ${what}`, () => {
    assert.fail(`CI=true and ${what} cannot run: ${reason}`);
  });
  return `${reason} (reported as a failure: CI=true)`;
}

/**
 * For a check inside a running test (`if (requireOrSkip(t, ...)) return;`): true when the test
 * must stop; it was skipped (outside CI) or the call threw (under CI).
 */
export function requireOrSkip(t: { skip(message?: string): void }, what: string, reason: string | false): boolean {
  if (reason === false) return false;
  if (underCi()) assert.fail(`CI=true and ${what} cannot run: ${reason}`);
  t.skip(reason);
  return true;
}
