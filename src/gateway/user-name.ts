/**
 * User names as the login sees them, before anything is looked up, scored or logged: a name the
 * user store could not hold (user-store.ts USER_NAME: 1-64 of A-Z a-z 0-9 . _ @ + -) is a failed
 * login scored against the address only. Otherwise one request could put a megabyte key in the
 * ban guard's per-user map, or newlines and terminal escapes into the logs.
 */
import { USER_NAME } from './user-store.js';

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

/** How an invalid name appears in a log line: at most 32 characters, anything odd as '?'. */
export function printableUserName(name: string): string {
  const head = name.slice(0, 32).replace(/[^\x20-\x7e]/g, '?');
  return name.length > 32 ? `${head}... (${name.length} characters)` : head;
}
