/**
 * The control API's requests and answers (JSON), independent of the listener: occtl parity.
 *
 *   POST   /v1/restart                        `ctl restart`: a new gateway process takes over every session
 *   GET    /v1/status                         uptime, sessions, traffic, auth, bans, DTLS share
 *   GET    /v1/sessions[?user=NAME]           every session (connected or waiting for a reconnect)
 *   GET    /v1/users                          connected sessions only (occtl show users)
 *   GET    /v1/sessions/ID                    one session
 *   POST   /v1/sessions/ID/disconnect         close its TLS connection, no goodbye: the client
 *                                             reconnects with its cookie (same address)
 *   POST   /v1/sessions/ID/terminate          TERMINATE + cookie invalidated: no reconnect
 *   POST   /v1/users/NAME/disconnect|terminate   the same for every session of a user
 *   GET    /v1/bans[?scores=1]                bans (and, with scores, addresses with points)
 *   DELETE /v1/bans/ADDRESS[?kind=user]       lift a ban (or a user-name lock)
 *   POST   /v1/reload                         like SIGHUP; 422 with the error when refused
 *   POST   /v1/drain[?grace=SECONDS]          cluster: no new sessions here, tunnels move to other
 *                                             nodes after the grace period (DELETE: end the drain)
 *   GET    /v1/events                         live stream (admin-server.ts), one JSON per line
 *   GET    /metrics                           Prometheus text
 *
 * docs/admin-api.yaml is the OpenAPI description.
 */
import type { Logger } from '../../log.js';
import { readProcStatus } from '../../os/proc-status.js';
import { VERSION } from '../../version.js';
import type { Session } from '../sessions.js';
import type { GatewayMetrics } from './metrics.js';
import { findSessions, sessionView } from './session-view.js';
import type { OpsStats } from './stats.js';
import type { OpsTarget } from './target.js';
import { ADMIN_DISCONNECT } from './tunnel-events.js';
import { clusterSessions } from '../cluster/session-list.js';

export interface ApiRequest {
  method: string;
  /** path without the query */
  path: string;
  query: URLSearchParams;
}

export interface ApiReply {
  status: number;
  /** JSON body, or text for /metrics */
  json?: unknown;
  text?: string;
  contentType?: string;
}

export interface AdminContext {
  gw: OpsTarget;
  stats: OpsStats;
  metrics: GatewayMetrics;
  log: Logger;
}

const notFound = (what: string): ApiReply => ({ status: 404, json: { error: `no ${what}` } });

export function status(c: AdminContext): Record<string, unknown> {
  const { gw, stats } = c;
  const byGroup: Record<string, number> = {};
  const channels = { TLS: 0, DTLS: 0 };
  let connected = 0;
  let total = 0;
  for (const s of gw.sessions.all()) {
    total++;
    byGroup[s.group.name] = (byGroup[s.group.name] ?? 0) + 1;
    if (!s.channel) continue;
    connected++;
    channels[s.tunnel?.channelName ?? 'TLS']++;
  }
  const t = stats.totals();
  const cfg = gw.currentConfig;
  return {
    version: VERSION,
    startedAt: new Date(gw.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - gw.startedAt) / 1000),
    config: cfg.file,
    listen: `${cfg.listen.host}:${cfg.listen.port}`,
    sessions: { total, connected, disconnected: total - connected, byGroup, channels, dtlsShare: connected ? channels.DTLS / connected : 0 },
    traffic: {
      bytesIn: t.TLS.rxBytes + t.DTLS.rxBytes,
      bytesOut: t.TLS.txBytes + t.DTLS.txBytes,
      packetsIn: t.TLS.rxPackets + t.DTLS.rxPackets,
      packetsOut: t.TLS.txPackets + t.DTLS.txPackets,
      // share of the traffic (bytes, both directions) that went over DTLS
      dtlsShare: (() => {
        const all = t.TLS.rxBytes + t.TLS.txBytes + t.DTLS.rxBytes + t.DTLS.txBytes;
        return all ? (t.DTLS.rxBytes + t.DTLS.txBytes) / all : 0;
      })(),
    },
    auth: stats.auth,
    bans: gw.gate.guard.counts(),
    refusedConnections: gw.gate.refused,
    tlsConnections: gw.tlsConnections,
    limits: { maxClients: cfg.limits.maxClients, maxSessionsPerUser: cfg.limits.maxSessionsPerUser, sessionOverflow: cfg.limits.sessionOverflow },
    lastReload: stats.lastReload,
    processes: processes(),
    // issue 12: the cluster and each node's load (absent on one machine)
    ...(gw.cluster ? { cluster: gw.cluster.status() } : {}),
  };
}

/** This (network) process as the kernel sees it, and its parent (the privileged process). */
function processes(): { network: { pid: number; uid: number; gid: number; capEff: string; noNewPrivs: boolean }; privileged: { pid: number } } | null {
  try {
    const st = readProcStatus('self');
    return { network: { pid: process.pid, uid: st.uid[1], gid: st.gid[1], capEff: st.capEff.toString(16).padStart(16, '0'), noNewPrivs: st.noNewPrivs }, privileged: { pid: process.ppid } };
  } catch {
    return null;
  }
}

/** `disconnect`: the TLS connection closes without TERMINATE; openconnect reconnects (§5.4, §8.5). */
function disconnect(c: AdminContext, list: Session[]): unknown {
  const done: number[] = [];
  const skipped: number[] = [];
  for (const s of list) {
    if (!s.channel) {
      skipped.push(s.id);
      continue;
    }
    c.log.info({ session: s.id, user: s.user }, 'admin: disconnect (the client may reconnect)');
    s.channel.destroy({ kind: 'local', text: ADMIN_DISCONNECT });
    done.push(s.id);
  }
  return { disconnected: done, notConnected: skipped };
}

/** `terminate`: TERMINATE, session and cookie gone (openconnect stops). */
function terminate(c: AdminContext, list: Session[]): unknown {
  for (const s of list) {
    c.log.info({ session: s.id, user: s.user }, 'admin: terminate');
    c.gw.endSession(s, 'terminated by admin');
  }
  return { terminated: list.map((s) => s.id) };
}

export async function route(c: AdminContext, req: ApiRequest): Promise<ApiReply> {
  const { gw } = c;
  const parts = req.path.split('/').filter(Boolean).map(decodeURIComponent);
  const [v, what, key, action] = parts;
  const m = req.method;
  if (m === 'GET' && req.path === '/metrics') return { status: 200, text: await c.metrics.text(), contentType: c.metrics.contentType };
  if (v !== 'v1') return notFound('such endpoint');
  if (m === 'GET' && what === 'status' && !key) return { status: 200, json: status(c) };
  if (m === 'GET' && (what === 'sessions' || what === 'users') && !key) {
    const user = req.query.get('user');
    const list = [...gw.sessions.all()].filter((s) => (user === null || s.user === user) && (what === 'sessions' || s.channel !== null));
    const views = list.sort((a, b) => a.id - b.id).map((s) => sessionView(s));
    // A cluster node lists the cluster's sessions, each with the node that carries it; with
    // several workers, worker 0 (which answers here) lists the other workers' sessions from the
    // store too (without their live channel details).
    const self = gw.cluster?.node ?? ((gw.workerCount ?? 1) > 1 ? gw.node : undefined);
    if (self === undefined || !gw.store) return { status: 200, json: views };
    try {
      const records = await gw.store.listSessions();
      return { status: 200, json: clusterSessions(views, records, self, (v) => (user === null || v.user === user) && (what === 'sessions' || v.state === 'connected')) };
    } catch (e) {
      c.log.warn({ err: (e as Error).message }, 'session list of the store unavailable; this process only');
      return { status: 200, json: views.map((v) => ({ ...v, node: self })) };
    }
  }
  if (what === 'sessions' && key !== undefined) {
    const id = Number(key);
    const list = Number.isInteger(id) ? findSessions(gw.sessions.all(), { id }) : [];
    if (list.length === 0) return notFound(`session ${key}`);
    if (m === 'GET' && !action) return { status: 200, json: sessionView(list[0]!) };
    if (m === 'POST' && action === 'disconnect') return { status: 200, json: disconnect(c, list) };
    if (m === 'POST' && action === 'terminate') return { status: 200, json: terminate(c, list) };
  }
  if (what === 'users' && key !== undefined && m === 'POST') {
    const list = findSessions(gw.sessions.all(), { user: key });
    if (list.length === 0) return notFound(`session of user ${key}`);
    if (action === 'disconnect') return { status: 200, json: disconnect(c, list) };
    if (action === 'terminate') return { status: 200, json: terminate(c, list) };
  }
  if (what === 'bans') {
    const guard = gw.gate.guard;
    if (m === 'GET' && !key) {
      const scores = req.query.get('scores') === '1';
      return { status: 200, json: guard.list(scores).map((b) => ({ ...b, bannedUntil: b.bannedUntil ? new Date(b.bannedUntil).toISOString() : null, secondsLeft: b.bannedUntil ? Math.ceil((b.bannedUntil - Date.now()) / 1000) : 0 })) };
    }
    if (m === 'DELETE' && key !== undefined) {
      const kind = req.query.get('kind') === 'user' ? 'user' : 'address';
      if (!guard.unban(key, kind)) return notFound(`ban or score for ${kind} ${key}`);
      c.log.info({ [kind === 'user' ? 'user' : 'remote']: key }, 'admin: unban');
      return { status: 200, json: { unbanned: key, kind } };
    }
  }
  if (what === 'drain' && !key && (m === 'POST' || m === 'DELETE')) {
    if (!gw.cluster || !gw.drain) return { status: 409, json: { error: 'drain needs a cluster (cluster: in the configuration)' } };
    const grace = req.query.get('grace');
    const g = grace === null ? undefined : Number(grace);
    if (g !== undefined && (!Number.isInteger(g) || g < 0 || g > 3600)) return { status: 400, json: { error: 'grace must be a whole number of seconds from 0 to 3600' } };
    return { status: 200, json: gw.drain(m === 'POST', g) };
  }
  if (m === 'POST' && what === 'restart' && !key) {
    // Answered before the handover starts: this process goes away in a moment.
    if (!gw.restart?.()) return { status: 409, json: { error: 'this gateway cannot restart itself (not started by sslgate serve)' } };
    return { status: 202, json: { restarting: true, sessions: gw.sessions.size } };
  }
  if (m === 'POST' && what === 'reload' && !key) {
    const r = await gw.reload();
    return { status: r.ok ? 200 : 422, json: r };
  }
  return notFound('such endpoint');
}
