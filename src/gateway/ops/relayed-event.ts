/**
 * Workers > 1: the events of workers 1..n-1 reach worker 0 (which runs the admin API and the
 * metrics) through the privileged process, as JSON. Worker 0 checks their shape before its
 * listeners (stats, metrics, the event stream) see them: a known type, and numbers where the
 * counters are read. The sender is a network process like this one, so the check is about
 * bugs and version skew, not trust; the ban guard does not score them (gatekeeper.ts).
 */
import type { GatewayEvent, GatewayEventType } from './events.js';

const TYPES: ReadonlySet<GatewayEventType> = new Set<GatewayEventType>(['login', 'auth-failure', 'bad-request', 'connect', 'disconnect', 'session-end', 'ban', 'unban', 'reload', 'dtls-handshake']);
const COUNTERS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'txDrops'] as const;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const count = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;

function counters(v: unknown): boolean {
  return isObj(v) && COUNTERS.every((k) => count(v[k])) && (v['txWrites'] === undefined || count(v['txWrites']));
}

/** The event of worker `worker`, or null when `json` is not one. */
export function relayedEvent(json: string, worker: number): GatewayEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  if (!isObj(v) || typeof v['type'] !== 'string' || !TYPES.has(v['type'] as GatewayEventType) || typeof v['time'] !== 'string') return null;
  if (v['session'] !== undefined && typeof v['session'] !== 'number') return null;
  if (v['type'] === 'disconnect' && (!counters(v['counters']) || (v['dtlsCounters'] !== undefined && !counters(v['dtlsCounters'])))) return null;
  return { ...(v as unknown as GatewayEvent), worker };
}
