/**
 * How a method built on the local user store finds it. The privileged process replaces its
 * UserStore on every reload (priv/parent.ts), so a method built once takes a getter for the
 * current one; a fixed store is fine for tests and the single-process gateway.
 */
import type { UserStore } from '../user-store.js';

export type UserStoreSource = UserStore | (() => UserStore);

export function storeGetter(source: UserStoreSource): () => UserStore {
  return typeof source === 'function' ? source : () => source;
}
