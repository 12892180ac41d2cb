/**
 * Which StateStore `sslgate serve` opens (in the privileged process, before the network process
 * starts): the SQLite file in the state folder on one machine. (A cluster's RedisStore plugs in
 * here.) Also `--reset-state`: the way out of an unreadable file, which moves it aside, never
 * deletes it.
 */
import { existsSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../config.js';
import { SqliteStore, STATE_DB_FILE } from './sqlite-store.js';
import type { StateStore } from './types.js';

export function stateDbPath(cfg: Pick<GatewayConfig, 'state'>): string {
  return join(cfg.state, STATE_DB_FILE);
}

/** This gateway's name in session records. */
export function stateNodeName(_cfg: GatewayConfig): string {
  return hostname();
}

/** Throws StateStoreError (file name and way out) when the file cannot be used. */
export function openStateStore(cfg: GatewayConfig): StateStore {
  return new SqliteStore(stateDbPath(cfg));
}

/**
 * `serve --reset-state`: the database and its -wal/-shm files are renamed to
 * `<name>.broken-<time>` (kept for a look or a recovery). Returns the new names.
 */
export function moveStateAside(cfg: Pick<GatewayConfig, 'state'>, now = new Date()): string[] {
  const db = stateDbPath(cfg);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const moved: string[] = [];
  for (const suffix of ['', '-wal', '-shm']) {
    const f = db + suffix;
    if (!existsSync(f)) continue;
    const to = `${db}.broken-${stamp}${suffix}`;
    renameSync(f, to);
    moved.push(to);
  }
  return moved;
}
