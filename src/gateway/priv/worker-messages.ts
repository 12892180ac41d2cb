/**
 * Channel messages of the multi-worker gateway (`workers` > 1, issue 11): what a network process
 * ("worker") tells the privileged process so that it can hand it connections, DTLS peers and
 * tunnel routes. Like messages.ts, everything from a worker is validated here: bounded shapes,
 * canonical addresses; a bad message ends the channel (and the worker).
 *
 * Handles (a TLS connection's socket, a DTLS peer's connected UDP socket) do not travel on the
 * framed channel but on Node's IPC channel of each worker (parent.ts spawns it with 'ipc'), which
 * only the privileged process writes to: see WorkerHandleMessage.
 */
import { BOUNDS, Checker } from './validate.js';
import { USER_NAME_MAX_BYTES } from './limits.js';
import { MAX_CONN_ID, type AcceptRefusal } from './conn-admission.js';

/** worker -> privileged process */
export type WorkerMessage =
  /**
   * live tunnels and open TLS connections now, and how many connections it was handed so far
   * (sent when they change, at most once per loop turn)
   */
  | { t: 'load'; tunnels: number; connections: number; accepted: number }
  /**
   * a tunnel of the session whose webvpn cookie is `cookie` with this address is up here: route
   * the address to this worker's TUN (if the store leases it to that session: worker-routes.ts)
   * and tell the other workers to drop the session from their caches; answered route-done
   */
  | { t: 'route'; id: number; addr: string; cookie: string }
  /** that tunnel ended here (fire and forget: the route goes if it still points here) */
  | { t: 'unroute'; addr: string }
  /** a CONNECT offered DTLS with this id here (up) or that tunnel ended (down) */
  | { t: 'dtls-id'; id: string; up: boolean }
  /**
   * The worker that owns the unconnected UDP socket got a ClientHello naming an id it does not
   * know: maybe another worker's. `data` is the datagram (base64). `local`: the address it was
   * sent to (IP_PKTINFO), when the port's socket is bound to 0.0.0.0 and knows it: the peer's
   * socket is bound to it, so its replies leave from the address the client sent to (a VIP).
   */
  | { t: 'dtls-hello'; id: string; address: string; port: number; data: string; local?: string }
  /** the connected UDP socket for this peer is closed here */
  | { t: 'dtls-peer-closed'; address: string; port: number }
  /** an operational event of this worker (ops/events.ts, JSON), for worker 0's metrics, status and event stream */
  | { t: 'ops-event'; ev: string }
  /**
   * these handed connections (their `conn` ids) became a tunnel or closed: they no longer count
   * as unauthenticated (conn-admission.ts); sent at most once per loop turn
   */
  | { t: 'conn-done'; ids: number[] }
  /**
   * a login of `user` is about to count the user's sessions (max-sessions-per-user): hold the
   * user's lock (user-locks.ts) until user-unlock with this id; answered user-locked
   */
  | { t: 'user-lock'; id: number; user: string }
  /** the login's session is recorded (or refused): the next login of the user may count; also withdraws a request still waiting */
  | { t: 'user-unlock'; id: number; user: string };

/** privileged process -> worker, on the framed channel */
export type WorkerReply =
  | { t: 'route-done'; id: number; ok: boolean; error?: string }
  /** another datagram for a peer whose connected socket this worker already has */
  | { t: 'dtls-forward'; address: string; port: number; data: string }
  /**
   * another worker carries this session's tunnel now: drop it from this cache without ending it
   * (close a tunnel of it here without a goodbye: the client replaced it)
   */
  | { t: 'session-moved'; cookieHash: string }
  /** to worker 0: an event of worker `worker` (as that worker sent it; worker 0 checks it) */
  | { t: 'ops-event'; worker: number; ev: string }
  /**
   * to worker 0: connections the privileged process closed at accept since its last report, by
   * why (address-bans.ts, conn-admission.ts), for the metrics and `ctl status` (Gatekeeper.refused)
   */
  | { t: 'conn-refused'; counts: Partial<Record<AcceptRefusal, number>> }
  /**
   * to worker 0, with `ban.points.connection` > 0: connections the privileged process handed to
   * any worker since its last report, as [address key, how many] (worker 0 scores them for the
   * whole gateway: gatekeeper.ts connectionPoints)
   */
  | { t: 'conn-points'; remotes: Array<[string, number]> }
  /** the user's lock is this worker's now (ok), or too many logins wait for locks (refuse the login as busy) */
  | { t: 'user-locked'; id: number; ok: boolean };

/** privileged process -> worker, on the IPC channel, each with a handle */
export type WorkerHandleMessage =
  /**
   * a TLS client's TCP connection, accepted paused (nothing read); `id` names it in the worker's
   * conn-done report (its rate and unauthenticated caps were counted by the privileged process)
   */
  | { t: 'conn'; id: number }
  /** a UDP socket bound to the DTLS port and connected to this peer; `data` is its ClientHello (base64) */
  | { t: 'dtls-socket'; address: string; port: number; data: string };

export const WORKER_MESSAGE_TYPES: ReadonlySet<string> = new Set(['load', 'route', 'unroute', 'dtls-id', 'dtls-hello', 'dtls-peer-closed', 'ops-event', 'conn-done', 'user-lock', 'user-unlock']);

/** Ids per conn-done message (a worker sends more in several): about 22 KB of JSON, under the 64 KiB frame. */
export const MAX_CONN_DONE_IDS = 2048;

/** An event is a few hundred bytes (ids, user, addresses, counters); more is not relayed. */
export const MAX_EVENT_CHARS = 8192;

/** DTLS ids are 32 bytes (X-DTLS-Session-ID, App-ID): 64 hex digits. */
const MAX_ID_BYTES = 32;
/** A ClientHello fits one datagram of a 1500-byte path; 4 KiB leaves room for larger MTUs. */
export const MAX_HELLO_BYTES = 4096;

const check: Checker = new Checker('worker sent an invalid message');

/** A unicast IPv4 address (not 0.0.0.0, multicast or broadcast): a local address a socket may bind to. */
function unicastIpv4(v: unknown, what: string): string {
  const s = check.ipv4(v, what);
  const first = Number(s.slice(0, s.indexOf('.')));
  if (s === '0.0.0.0' || first >= 224) check.fail(`${what} must be a unicast IPv4 address`);
  return s;
}

/** Validates a frame whose `t` is in WORKER_MESSAGE_TYPES. */
export function parseWorkerMessage(v: Record<string, unknown>): WorkerMessage {
  switch (v['t']) {
    case 'load':
      check.onlyKeys(v, ['t', 'tunnels', 'connections', 'accepted']);
      return {
        t: 'load',
        tunnels: check.int(v['tunnels'], 'tunnels', 0, BOUNDS.liveCount),
        connections: check.int(v['connections'], 'connections', 0, BOUNDS.liveCount),
        // a running total since the worker started: any exact counter
        accepted: check.int(v['accepted'], 'accepted'),
      };
    case 'route':
      check.onlyKeys(v, ['t', 'id', 'addr', 'cookie']);
      // sessions.ts makes cookies of 32 random bytes in base64url; worker-routes.ts checks the form again
      if (typeof v['cookie'] !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(v['cookie'])) check.fail('cookie must be 16-128 base64url characters');
      return { t: 'route', id: check.int(v['id'], 'id'), addr: check.ipv4(v['addr'], 'addr'), cookie: v['cookie'] };
    case 'unroute':
      check.onlyKeys(v, ['t', 'addr']);
      return { t: 'unroute', addr: check.ipv4(v['addr'], 'addr') };
    case 'dtls-id':
      check.onlyKeys(v, ['t', 'id', 'up']);
      return { t: 'dtls-id', id: check.hexBytes(v['id'], 'id', MAX_ID_BYTES), up: check.bool(v['up'], 'up') };
    case 'dtls-hello':
      check.onlyKeys(v, ['t', 'id', 'address', 'port', 'data', 'local']);
      return {
        t: 'dtls-hello',
        id: check.hexBytes(v['id'], 'id', MAX_ID_BYTES),
        address: check.ipv4(v['address'], 'address'),
        port: check.int(v['port'], 'port', 1, 65535),
        data: check.base64(v['data'], 'data', MAX_HELLO_BYTES),
        ...(v['local'] !== undefined ? { local: unicastIpv4(v['local'], 'local') } : {}),
      };
    case 'dtls-peer-closed':
      check.onlyKeys(v, ['t', 'address', 'port']);
      return { t: 'dtls-peer-closed', address: check.ipv4(v['address'], 'address'), port: check.int(v['port'], 'port', 1, 65535) };
    case 'ops-event':
      // Opaque here: this process only relays it to worker 0, which parses and checks it.
      // Counted in characters, as network-process.ts counts before it sends.
      check.onlyKeys(v, ['t', 'ev']);
      if (typeof v['ev'] !== 'string' || v['ev'].length > MAX_EVENT_CHARS) check.fail(`ev must be a string of at most ${MAX_EVENT_CHARS} characters`);
      return { t: 'ops-event', ev: v['ev'] };
    case 'user-lock':
    case 'user-unlock':
      check.onlyKeys(v, ['t', 'id', 'user']);
      return { t: v['t'], id: check.int(v['id'], 'id'), user: check.str(v['user'], 'user', USER_NAME_MAX_BYTES) };
    case 'conn-done':
      check.onlyKeys(v, ['t', 'ids']);
      return { t: 'conn-done', ids: check.list(v['ids'], 'ids', MAX_CONN_DONE_IDS, (x, w) => check.int(x, w, 1, MAX_CONN_ID)) };
    default:
      return check.fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  }
}
