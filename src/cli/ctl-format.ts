/**
 * Human output of `sslgate ctl`: aligned tables and key/value lists, sizes in KiB/MiB/GiB,
 * durations as 3d4h, 2h5m, 4m10s. `--json` prints the API's JSON instead.
 */
import type { SessionView } from '../gateway/ops/session-view.js';

export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/** "for 4m10s" from an ISO time */
function since(iso: string | null, now: number): string {
  return iso ? duration((now - Date.parse(iso)) / 1000) : '-';
}

function channel(v: SessionView & { source?: string }): string {
  // seen in the store only (another node, or a worker that did not answer in time): no live details
  if (v.source === 'store' && v.state === 'connected') return '(stored)';
  if (!v.channel) return '-';
  const d = v.channel.dtls;
  return v.channel.type === 'DTLS' && d ? `DTLS ${d.cipher ?? d.mode}` : `TLS ${v.channel.tls.protocol.replace(/^TLSv/, '')} ${v.channel.tls.cipher}`.trim();
}

export function sessionsTable(list: Array<SessionView & { node?: string; worker?: number; source?: string }>, withState: boolean, now = Date.now()): string {
  // A cluster node lists every node's sessions: NODE says which carries each.
  const nodes = list.some((v) => v.node !== undefined);
  // workers > 1: WORKER says which network process carries it
  const workers = list.some((v) => v.worker !== undefined);
  const headers = ['ID', ...(nodes ? ['NODE'] : []), ...(workers ? ['WORKER'] : []), 'USER', 'GROUP', 'ADDRESS', 'REMOTE', 'SINCE', ...(withState ? ['STATE'] : []), 'CHANNEL', 'IN', 'OUT', 'USER AGENT'];
  const rows = list.map((v) => [
    String(v.id),
    ...(nodes ? [v.node ?? '-'] : []),
    ...(workers ? [v.worker === undefined ? '-' : String(v.worker)] : []),
    v.user,
    v.group,
    v.address ?? '-',
    v.remote,
    since(v.since, now),
    ...(withState ? [v.state] : []),
    channel(v),
    bytes(v.bytesIn),
    bytes(v.bytesOut),
    v.userAgent,
  ]);
  return table(headers, rows);
}

export function keyValues(pairs: Array<[string, string]>): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${v}`).join('\n') + '\n';
}

export function sessionDetail(v: SessionView, now = Date.now()): string {
  const c = v.channel;
  return keyValues([
    ['session', String(v.id)],
    ['user', v.user],
    ['group', v.group],
    ['state', v.state],
    ['address', v.address ?? '-'],
    ['remote', v.remote],
    ['user agent', v.userAgent],
    ['logged in', `${v.since} (${since(v.since, now)} ago)`],
    ['tunnel since', v.connectedSince ? `${v.connectedSince} (${since(v.connectedSince, now)} ago)` : '-'],
    ['channel', c ? `${c.type}, MTU ${c.mtu}` : '-'],
    ['TLS', c ? `${c.tls.protocol} ${c.tls.cipher}` : '-'],
    ['DTLS', c?.dtls ? `${c.dtls.mode}${c.dtls.cipher ? ' ' + c.dtls.cipher : ''}${c.dtls.established ? ' (up)' : ' (not up)'}` : '-'],
    ['bytes in/out', `${bytes(v.bytesIn)} / ${bytes(v.bytesOut)}`],
    ['packets in/out', `${v.packetsIn} / ${v.packetsOut} (this tunnel; ${v.dropsOut} dropped out)`],
    ['reconnects', String(v.reconnects)],
    ['idle', duration(v.idleSeconds)],
    ['idle timeout', v.idleTimeout === null ? 'none' : duration(v.idleTimeout)],
    ['session timeout', v.sessionTimeout === null ? 'none' : duration(v.sessionTimeout)],
  ]);
}

interface StatusJson {
  version: string;
  uptimeSeconds: number;
  config: string | null;
  listen: string;
  sessions: { total: number; connected: number; disconnected: number; byGroup: Record<string, number>; channels: Record<string, number>; dtlsShare: number };
  traffic: { bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number; dtlsShare: number };
  auth: { successes: number; failures: number; failuresByReason: Record<string, number> };
  bans: { address: number; user: number };
  refusedConnections: Record<string, number>;
  tlsConnections: number;
  /** workers > 1: workers that did not answer worker 0 in time (their sessions are left out) */
  unanswered?: number[];
  lastReload: { time: string; ok: boolean; error?: string } | null;
  processes?: { network: { pid: number; uid: number; gid: number; capEff: string }; privileged: { pid: number } } | null;
}

const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
const list = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

export function statusText(s: StatusJson): string {
  const r = s.lastReload;
  return keyValues([
    ['version', s.version],
    ['uptime', duration(s.uptimeSeconds)],
    ['config', s.config ?? '(embedded defaults)'],
    ['listen', s.listen],
    ['sessions', `${s.sessions.total} (${s.sessions.connected} connected, ${s.sessions.disconnected} waiting for reconnect)`],
    ['by group', list(s.sessions.byGroup)],
    ['channels', `TLS ${s.sessions.channels['TLS'] ?? 0}, DTLS ${s.sessions.channels['DTLS'] ?? 0} (DTLS share ${pct(s.sessions.dtlsShare)} of tunnels, ${pct(s.traffic.dtlsShare)} of bytes)`],
    ['bytes in/out', `${bytes(s.traffic.bytesIn)} / ${bytes(s.traffic.bytesOut)}`],
    ['packets in/out', `${s.traffic.packetsIn} / ${s.traffic.packetsOut}`],
    ['logins', `${s.auth.successes} ok, ${s.auth.failures} failed${s.auth.failures ? ` (${list(s.auth.failuresByReason)})` : ''}`],
    ['bans', `${s.bans.address} address(es), ${s.bans.user} user name(s) locked`],
    ['refused connections', list(s.refusedConnections)],
    ['TLS connections', String(s.tlsConnections)],
    ...(s.unanswered?.length ? [['not answering', `worker ${s.unanswered.join(', ')} (sessions left out; traffic as last answered)`] as [string, string]] : []),
    ['last reload', r ? `${r.time} ${r.ok ? 'ok' : `refused: ${r.error ?? ''}`}` : 'none'],
    ...(s.processes
      ? [['processes', `network ${s.processes.network.pid} (uid ${s.processes.network.uid}, gid ${s.processes.network.gid}, ${/^0+$/.test(s.processes.network.capEff) ? 'no capabilities' : `capabilities ${s.processes.network.capEff}`}), privileged ${s.processes.privileged.pid}`] as [string, string]]
      : []),
  ]);
}

export function bansTable(bans: Array<{ kind: string; key: string; score: number; bannedUntil: string | null; secondsLeft: number }>): string {
  return table(
    ['KIND', 'ADDRESS/USER', 'SCORE', 'BANNED UNTIL', 'LEFT'],
    bans.map((b) => [b.kind, b.key, String(b.score), b.bannedUntil ?? '-', b.bannedUntil ? duration(b.secondsLeft) : '-']),
  );
}

/** One event as a line: "12:00:01 connect session=3 user=alice address=10.100.5.2 ..." */
export function eventLine(ev: Record<string, unknown>): string {
  const { time, type, ...rest } = ev;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join(' ');
  return `${String(time ?? '').slice(11, 19)} ${String(type)} ${fields}`;
}
