/**
 * Operations for a running gateway (issue 6), started by `serve` after the gateway: totals,
 * Prometheus metrics, the admin API listeners. Listener addresses are read once here: changing
 * them needs a restart (a reload reports that).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { readPrivateFile, writePrivateFile } from '../../os/safe-files.js';
import type { Logger } from '../../log.js';
import { adminHandler, closeServer, listenTcp, listenUnix, metricsHandler } from './admin-server.js';
import { GatewayMetrics } from './metrics.js';
import { OpsStats } from './stats.js';
import { OtherWorkers } from './worker-metrics.js';
import type { OpsTarget } from './target.js';
import type { CtlRelayFn } from './ctl-relay.js';

export interface Ops {
  stats: OpsStats;
  metrics: GatewayMetrics;
  /** where each listener is, for the start-up message */
  where: { adminSocket: string | null; adminTcp: string | null; metrics: string | null };
  close(): Promise<void>;
}

/** The bearer token for the TCP admin listener: read, or created (random, 0600) when missing. */
export function readOrCreateToken(file: string): Buffer {
  let text = readPrivateFile(file);
  if (text === null) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    text = Buffer.from(randomBytes(32).toString('base64url') + '\n');
    writePrivateFile(file, text);
  }
  const token = text.toString('utf8').trim();
  if (token.length < 16) throw new Error(`${file}: the admin token must have at least 16 characters`);
  return Buffer.from(token);
}

/** `relay`: workers > 1, how this process (worker 0) reaches the other workers' sessions. */
export async function startOps(gw: OpsTarget, log: Logger, relay?: CtlRelayFn): Promise<Ops> {
  const cfg = gw.currentConfig;
  const stats = new OpsStats(gw);
  const metrics = new GatewayMetrics(gw, stats, relay ? new OtherWorkers(relay, log) : null);
  const ctx = { gw, stats, metrics, log, ...(relay ? { relay } : {}) };
  const servers: Server[] = [];
  const where: Ops['where'] = { adminSocket: null, adminTcp: null, metrics: null };
  const close = async (): Promise<void> => {
    await Promise.all(servers.map(closeServer));
    metrics.close();
    stats.close();
  };
  try {
    if (cfg.admin.socket) {
      servers.push(await listenUnix(cfg.admin.socket, adminHandler(ctx, null)));
      where.adminSocket = cfg.admin.socket;
    }
    if (cfg.admin.listen) {
      const token = readOrCreateToken(cfg.admin.tokenFile);
      servers.push(await listenTcp(cfg.admin.listen, adminHandler(ctx, token)));
      where.adminTcp = `${cfg.admin.listen.host}:${cfg.admin.listen.port}`;
    }
    if (cfg.metrics.listen) {
      servers.push(await listenTcp(cfg.metrics.listen, metricsHandler(metrics, cfg.metrics.path)));
      where.metrics = `http://${cfg.metrics.listen.host}:${cfg.metrics.listen.port}${cfg.metrics.path}`;
    }
  } catch (e) {
    await close();
    throw e;
  }
  log.info(where, 'operations listening');
  return { stats, metrics, where, close };
}
