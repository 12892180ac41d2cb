/**
 * Which StateStore `sslgate serve` opens (in the privileged process, before the network process
 * starts): the SQLite file in the state folder on one machine, the shared Redis with `cluster:`
 * (every node opens the same one). Also `--reset-state`: the way out of an unreadable file, which
 * moves it aside, never deletes it.
 */
import { existsSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../config.js';
import { NODE_TTL_MS } from '../cluster/agent.js';
import { RedisStore } from './redis-store.js';
import { SqliteStore, STATE_DB_FILE } from './sqlite-store.js';
import type { StateStore } from './types.js';
import type { BadRecordHandler } from './session-codec.js';

export function stateDbPath(cfg: Pick<GatewayConfig, 'state'>): string {
  return join(cfg.state, STATE_DB_FILE);
}

/** This gateway's name in session records: cluster.node in a cluster, else the host name. */
export function stateNodeName(cfg: GatewayConfig): string {
  return cfg.cluster?.node ?? hostname();
}

/**
 * Throws StateStoreError (file name and way out) when the file cannot be used, and
 * StoreUnavailableError (the URL, without a password) when the cluster's Redis does not answer.
 * `onBadRecord` hears of stored records that fail their check (skipped when listing).
 */
export async function openStateStore(cfg: GatewayConfig, onBadRecord?: BadRecordHandler): Promise<StateStore> {
  if (cfg.cluster) {
    return RedisStore.open({ url: cfg.cluster.redis, node: cfg.cluster.node, reconnectWindowMs: cfg.cookieTimeout * 1000, nodeTtlMs: NODE_TTL_MS, onBadRecord });
  }
  return new SqliteStore(stateDbPath(cfg), onBadRecord);
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
