/**
 * Where a new login goes in a cluster (pure), after Cisco ASA's VPN load balancing: the node a
 * client reaches answers its first request with an HTTP redirect to the least-loaded member, and
 * the client logs in there. openconnect 9.01 follows a redirect to another host on its first XML
 * POST (auth.c: do_https_request -> handle_redirect, REDIR_TYPE_NEWHOST, then the same init POST
 * to the new host; a same-host redirect makes it give up XML POST), so the redirect is given to
 * that first request (and to a GET of the login page), before any password is typed.
 *
 * Load is sessions / capacity (limits.max-clients). A node redirects only when the login would
 * leave the other node less loaded than it would leave itself, so equal nodes keep their logins
 * and two nodes cannot send one login back and forth; a request that already was redirected
 * (REDIRECT_MARK in its URL) is never redirected again, whatever the (possibly stale) view says.
 */
import type { NodeInfo } from '../state/cluster-types.js';

/** Query parameter a redirect adds, so the target does not redirect the client once more. */
export const REDIRECT_MARK = 'sslgate-lb';

export interface BalanceView {
  /** this node's name */
  self: string;
  /** this node's live numbers (the registry's copy of itself may be a few seconds old) */
  selfSessions: number;
  selfCapacity: number;
  /** cluster.balance */
  balance: boolean;
  /** `ctl drain`: this node takes no new sessions */
  draining: boolean;
  /** the other nodes as the registry last said (this one may be among them: ignored) */
  nodes: readonly NodeInfo[];
  now: number;
  /** entries older than this are not trusted (the node may be gone) */
  staleMs: number;
}

export type BalanceDecision =
  | { kind: 'stay' }
  | { kind: 'redirect'; node: NodeInfo }
  /** draining and no other node can take it */
  | { kind: 'refuse' };

function load(sessions: number, capacity: number): number {
  return capacity > 0 ? sessions / capacity : Infinity;
}

/**
 * The one rule for which nodes can take a login (a redirect here, `ctl drain`'s "others can take
 * them" there): another node, not draining, its entry fresh, with room.
 */
export function canTakeLogin(n: NodeInfo, self: string, now: number, staleMs: number): boolean {
  return n.node !== self && !n.draining && now - n.updatedAt <= staleMs && n.sessions < n.capacity;
}

/** The decision for one new login. */
export function balanceLogin(v: BalanceView): BalanceDecision {
  if (!v.balance && !v.draining) return { kind: 'stay' };
  let best: NodeInfo | null = null;
  for (const n of v.nodes) {
    if (!canTakeLogin(n, v.self, v.now, v.staleMs)) continue;
    if (!best || load(n.sessions + 1, n.capacity) < load(best.sessions + 1, best.capacity) || (load(n.sessions + 1, n.capacity) === load(best.sessions + 1, best.capacity) && n.node < best.node)) best = n;
  }
  if (v.draining) return best ? { kind: 'redirect', node: best } : { kind: 'refuse' };
  if (best && load(best.sessions + 1, best.capacity) < load(v.selfSessions + 1, v.selfCapacity)) return { kind: 'redirect', node: best };
  return { kind: 'stay' };
}

/** True when the request path carries the mark of an earlier redirect. */
export function wasRedirected(path: string): boolean {
  const q = path.indexOf('?');
  return q >= 0 && new URLSearchParams(path.slice(q + 1)).has(REDIRECT_MARK);
}

/**
 * The Location of a redirect to `n`, keeping the request's path (a group URL such as
 * /Employees selects the group there too) and adding the mark.
 */
export function redirectLocation(n: NodeInfo, path: string): string {
  const host = /:\d+$/.test(n.address) || n.port === 443 ? n.address : `${n.address}:${n.port}`;
  const [p = '/', q] = path.split('?', 2);
  const params = new URLSearchParams(q ?? '');
  params.set(REDIRECT_MARK, '1');
  return `https://${host}${p.startsWith('/') ? p : `/${p}`}?${params.toString()}`;
}
