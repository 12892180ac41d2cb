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
import type { GatewayMetrics } from './metrics.js';
import { findSessions, sessionView, type SessionView } from './session-view.js';
import { add, type OpsStats } from './stats.js';
import { sessionCounts } from './worker-metrics.js';
import { refusedOf } from './data-plane-counters.js';
import type { OpsTarget } from './target.js';
import { clusterSessions } from '../cluster/session-list.js';
import { disconnectSessions, terminateSessions, type DisconnectResult, type TerminateResult } from './session-actions.js';
import { askOthers, checkDisconnect, checkTerminate, checkViews, type CtlRelayFn } from './ctl-relay.js';

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
  /**
   * workers > 1 (worker 0 answers the admin API): asks the other workers about their sessions
   * (ctl-relay.ts), so that every command acts on a session wherever it lives
   */
  relay?: CtlRelayFn;
}

/**
 * `disconnect` / `terminate` of the sessions `by` names: here, and on every other worker. null
 * when no worker has such a session (404, as with one worker).
 */
async function actEverywhere(c: AdminContext, action: 'disconnect' | 'terminate', by: { id: number } | { user: string }): Promise<unknown> {
  const local = findSessions(c.gw.sessions.all(), by);
  const mine: DisconnectResult | TerminateResult = action === 'disconnect' ? disconnectSessions(c.log, local) : terminateSessions(c.gw, c.log, local);
  if (!c.relay) return local.length ? mine : null;
  const where: Record<number, number[]> = local.length ? { 0: local.map((s) => s.id) } : {};
  // An id is on one worker only: found here, nobody else is asked.
  if ('id' in by && local.length) return { ...mine, worker: where };
  const ask = { op: action, ...by };
  if (action === 'disconnect') {
    const r = await askOthers(c.relay, ask, checkDisconnect, c.log);
    const all = mine as DisconnectResult;
    for (const { worker, value } of r.answers) {
      all.disconnected.push(...value.disconnected);
      all.notConnected.push(...value.notConnected);
      if (value.disconnected.length + value.notConnected.length) where[worker] = [...value.disconnected, ...value.notConnected];
    }
    if (all.disconnected.length + all.notConnected.length === 0) return null;
    return { ...all, worker: where, ...(r.silent.length ? { unanswered: r.silent } : {}) };
  }
  const r = await askOthers(c.relay, ask, checkTerminate, c.log);
  const all = mine as TerminateResult;
  for (const { worker, value } of r.answers) {
    all.terminated.push(...value.terminated);
    if (value.terminated.length) where[worker] = value.terminated;
  }
  if (all.terminated.length === 0) return null;
  return { ...all, worker: where, ...(r.silent.length ? { unanswered: r.silent } : {}) };
}

/**
 * Every worker's live views of the sessions `by` names (workers > 1), each with its worker;
 * `silent`: workers that did not answer in time (their sessions come from the store).
 */
async function liveViews(c: AdminContext, by: { id?: number; user?: string }): Promise<{ views: Array<SessionView & { worker?: number }>; silent: number[] }> {
  const local = (by.id === undefined && by.user === undefined ? [...c.gw.sessions.all()] : findSessions(c.gw.sessions.all(), by as { id?: number; user?: string })).map((s) => sessionView(s));
  if (!c.relay) return { views: local, silent: [] };
  const r = await askOthers(c.relay, { op: 'sessions', ...by }, checkViews, c.log);
  const views: Array<SessionView & { worker?: number }> = local.map((v) => ({ ...v, worker: 0 }));
  for (const { worker, value } of r.answers) for (const v of value) views.push({ ...v, worker });
  return { views, silent: r.silent };
}

const notFound = (what: string): ApiReply => ({ status: 404, json: { error: `no ${what}` } });

/**
 * `ctl status`. workers > 1: worker 0 asks the other workers first (the metrics' ask,
 * worker-metrics.ts, at most 3 s): sessions and open connections count every worker that
 * answered (`unanswered` lists the others), and the traffic is every worker's running total
 * (closed plus open tunnels; a silent worker's with its last answer, so it never goes down).
 */
export async function status(c: AdminContext): Promise<Record<string, unknown>> {
  const { gw, stats } = c;
  const others = c.metrics.others;
  await others?.refresh();
  const byGroup: Record<string, number> = {};
  const channels = { TLS: 0, DTLS: 0 };
  let connected = 0;
  let total = 0;
  for (const row of [...sessionCounts(gw.sessions.all()), ...(others?.fresh() ?? []).flatMap((m) => m.sessions)]) {
    total += row.n;
    byGroup[row.group] = (byGroup[row.group] ?? 0) + row.n;
    if (row.channel === 'none') continue;
    connected += row.n;
    channels[row.channel] += row.n;
  }
  // One worker: closed tunnels (events) + open ones. Several: each worker's own running total
  // added up (worker 0 alone would miss the other workers' open tunnels).
  let t = stats.totals();
  if (others) {
    t = stats.totalsHere();
    const o = others.traffic();
    add(t.TLS, o.TLS);
    add(t.DTLS, o.DTLS);
  }
  const unanswered = others ? [...others.answered].filter(([, ok]) => !ok).map(([w]) => w) : [];
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
    refusedConnections: others ? refusedOf(c.metrics.dataPlane()) : gw.gate.refused,
    tlsConnections: gw.tlsConnections + (others?.fresh() ?? []).reduce((n, m) => n + m.tlsConnections, 0),
    ...(unanswered.length ? { unanswered } : {}),
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

export async function route(c: AdminContext, req: ApiRequest): Promise<ApiReply> {
  const { gw } = c;
  const parts = req.path.split('/').filter(Boolean).map(decodeURIComponent);
  const [v, what, key, action] = parts;
  const m = req.method;
  if (m === 'GET' && req.path === '/metrics') return { status: 200, text: await c.metrics.text(), contentType: c.metrics.contentType };
  if (v !== 'v1') return notFound('such endpoint');
  if (m === 'GET' && what === 'status' && !key) return { status: 200, json: await status(c) };
  if (m === 'GET' && (what === 'sessions' || what === 'users') && !key) {
    const user = req.query.get('user');
    // workers > 1: every worker's live views (ctl-relay.ts); one that does not answer in time
    // is shown from the store below (marked source: store)
    const live = await liveViews(c, user === null ? {} : { user });
    const views = live.views.filter((v) => what === 'sessions' || v.state === 'connected').sort((a, b) => a.id - b.id);
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
    if (list.length === 0 && !c.relay) return notFound(`session ${key}`);
    if (m === 'GET' && !action) {
      if (list.length) return { status: 200, json: c.relay ? { ...sessionView(list[0]!), worker: 0 } : sessionView(list[0]!) };
      // another worker's (workers > 1)
      const v = Number.isInteger(id) ? (await liveViews(c, { id })).views.find((x) => x.id === id) : undefined;
      return v ? { status: 200, json: v } : notFound(`session ${key}`);
    }
    if (m === 'POST' && (action === 'disconnect' || action === 'terminate')) {
      const r = Number.isInteger(id) ? await actEverywhere(c, action, { id }) : null;
      return r ? { status: 200, json: r } : notFound(`session ${key}`);
    }
  }
  if (what === 'users' && key !== undefined && m === 'POST' && (action === 'disconnect' || action === 'terminate')) {
    const r = await actEverywhere(c, action, { user: key });
    return r ? { status: 200, json: r } : notFound(`session of user ${key}`);
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
