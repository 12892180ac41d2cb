/**
 * Polling for the interop tests: the gateway, its clients and the servers act asynchronously,
 * so a test waits for a condition to hold (with a generous deadline that only bounds a failure),
 * never for a fixed time.
 */

type Maybe<T> = T | null | undefined | false;

/**
 * Calls `fn` every `everyMs` until it returns a value (not null, undefined or false) and returns
 * that value; after `ms` fails naming `what` (a function: the message may show the state then).
 */
export async function eventually<T>(what: string | (() => string), ms: number, fn: () => Maybe<T> | Promise<Maybe<T>>, everyMs = 250): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `fn` every `everyMs` until it says true; fails the test after `ms` naming `what`. */
export async function until(what: string, ms: number, fn: () => Promise<boolean>, everyMs = 200): Promise<void> {
  await eventually(what, ms, fn, everyMs);
}
