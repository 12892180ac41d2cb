/**
 * Entry point of the gateway's network process: the one that reads from the internet (TLS,
 * HTTP, aggregate-auth XML, CSTP, DTLS). The privileged process (parent.ts) starts it as root
 * with the channel on fd 3 and the TUN device on fd 4, and sends `init`. Then, in this order:
 *   1. every module and addon is loaded (before root goes: the code may live where the
 *      run-as-user cannot read);
 *   2. the admin socket, the metrics and admin TCP listeners, the DTLS socket and the TLS
 *      listener are bound (ports below 1024, a socket in the root-only state folder);
 *   3. root is given up for good (drop.ts), checked in /proc/self/status;
 *   4. only then does the gateway start reading: serve().
 * From then on it holds no capability, cannot read users.json or the config file, and asks the
 * privileged process for password checks and reload steps.
 */
import { Socket as UdpSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { formatIpv4 } from '../../protocol/ipv4.js';
import { createLogger, type Logger } from '../../log.js';
import { adoptTun } from '../../os/tun.js';
import type { GatewayConfig } from '../config.js';
import { Gateway } from '../gateway.js';
import { startOps, type Ops } from '../ops/ops.js';
import { identity } from '../tls-cert.js';
import { Channel, Requests } from './channel.js';
import { dropPrivileges } from './drop.js';
import { MAX_FRAME_FROM_PRIVILEGED } from './limits.js';
import type { NetworkMessage, PrivilegedMessage } from './messages.js';
import { PrivilegedClient, profileFromWire } from './privileged-client.js';
import { MAX_CONN_DONE_IDS, MAX_EVENT_CHARS, type WorkerHandleMessage } from './worker-messages.js';
import { relayedEvent } from '../ops/relayed-event.js';
import type { WorkerMesh } from '../worker-mesh.js';
import { RemoteStore } from './remote-store.js';
import { ctlAnswerParts } from './ctl-messages.js';
import { answerCtlAsk } from '../ops/session-actions.js';
import { OpsStats } from '../ops/stats.js';
import type { CtlRelayFn } from '../ops/ctl-relay.js';

type Init = Extract<PrivilegedMessage, { t: 'init' }>;
type Answer = Extract<PrivilegedMessage, { id: number }>;

/** Light checks: the privileged process is trusted; this catches version skew and bugs. */
function parsePrivileged(v: unknown): PrivilegedMessage {
  if (typeof v !== 'object' || v === null || typeof (v as { t?: unknown }).t !== 'string') throw new Error('malformed message from the privileged process');
  return v as PrivilegedMessage;
}

const requests = new Requests<Answer>();
let gw: Gateway | null = null;
let ops: Ops | null = null;
/** workers > 1, workers other than 0 (which has ops.stats): this worker's totals */
let statsHere: OpsStats | null = null;
let log: Logger | null = null;
let stopping = false;

const channel = new Channel<PrivilegedMessage, NetworkMessage>(
  new Socket({ fd: 3, readable: true, writable: true }),
  MAX_FRAME_FROM_PRIVILEGED,
  parsePrivileged,
  (m) => onMessage(m),
  (err) => {
    requests.failAll(new Error('the privileged process is gone'));
    if (!stopping) {
      // The privileged process died (kill -9, a crash) or restarts: it owns the sessions' store and
      // comes back. No goodbye to the clients (a TERMINATE would end their sessions): every
      // connection just closes, and they reconnect with their cookie to the next gateway.
      log?.error({ err: err?.message }, 'privileged process gone; closing every connection without a goodbye (clients reconnect)');
      stopping = true;
      try {
        gw?.abandon();
      } finally {
        process.exit(1);
      }
    }
  },
);

function onMessage(m: PrivilegedMessage): void {
  switch (m.t) {
    case 'init':
      start(m).catch((e: unknown) => {
        channel.send(fatalMessage(e));
        setTimeout(() => process.exit(1), 50);
      });
      break;
    case 'reload':
      void gw?.reload();
      break;
    case 'stop':
      log?.info({ signal: m.signal, keepSessions: m.keepSessions === true }, m.keepSessions ? 'handing over to the next gateway process' : 'shutting down');
      void shutdown(0, m.keepSessions === true);
      break;
    case 'state-ban-added':
      gw?.applyBan(m.ban);
      break;
    case 'state-ban-removed':
      gw?.liftBan(m.kind, m.key);
      break;
    case 'cluster-nodes':
      gw?.cluster?.update(m.nodes, m.redis);
      break;
    case 'cluster-peers':
      gw?.cluster?.setPeers({ sessions: m.sessions, tunnels: m.tunnels });
      break;
    case 'cluster-drop':
      gw?.sessionMoved(m.cookieHash, m.to);
      break;
    case 'cluster-resync':
      void gw?.resyncStore();
      break;
    case 'dtls-forward':
      gw?.dtlsForwarded(Buffer.from(m.data, 'base64'), m.address, m.port);
      break;
    case 'session-moved':
      gw?.sessionMoved(m.cookieHash);
      break;
    case 'ctl-ask': {
      // Another worker (worker 0, for `sslgate ctl`) asks about this worker's sessions.
      let text = 'null';
      try {
        const stats = ops?.stats ?? statsHere;
        text = gw && log && stats ? JSON.stringify(answerCtlAsk(gw, log, m.ask, stats)) : m.ask.op === 'metrics' ? 'null' : '[]';
      } catch (e) {
        log?.error({ err: (e as Error).message }, 'ctl request from another worker failed');
      }
      const parts = ctlAnswerParts(text);
      parts.forEach((part, i) => channel.send({ t: 'ctl-answer', id: m.id, part, more: i < parts.length - 1 }));
      break;
    }
    case 'conn-refused':
      gw?.gate.countRefused(m.counts);
      break;
    case 'conn-points':
      gw?.gate.connectionPoints(m.remotes);
      break;
    case 'ops-event': {
      const ev = relayedEvent(m.ev, m.worker);
      if (ev) gw?.events.relay(ev);
      else log?.warn({ worker: m.worker }, 'malformed event from another worker; dropped');
      break;
    }
    default:
      if (!requests.answer(m)) log?.warn({ type: m.t }, 'unexpected message from the privileged process');
  }
}

/** A start-up failure as the privileged process prints it: the message, naming the address if Node did not. */
function fatalMessage(e: unknown): NetworkMessage {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  const message = err instanceof Error ? err.message : String(e);
  const where = err.address ? `${err.address}${err.port ? `:${err.port}` : ''}` : '';
  const error = where && !message.includes(where) ? `${message} (${where})` : message;
  return err.code ? { t: 'fatal', error, code: String(err.code) } : { t: 'fatal', error };
}

async function start(init: Init): Promise<void> {
  const config = init.config as GatewayConfig;
  log = createLogger({ level: init.logLevel, format: init.logFormat });
  const tun = adoptTun(init.tun.fd, init.tun.name, { vnetHdr: init.tun.offload !== 0, mtu: init.tun.mtu });
  const id = init.identity;
  const worker = init.worker && init.worker.count > 1 ? init.worker : null;
  if (worker) log = log.child({ worker: worker.index });
  const mesh = worker ? workerMesh(worker.index, worker.count) : undefined;
  gw = new Gateway(config, log, {
    identity: identity(id.certPem, id.keyPem, id.generated, id.certFile),
    clientCaPem: init.clientCaPem,
    clientCrlPem: init.clientCrlPem,
    profile: profileFromWire(init.profile),
    tun,
    tunMtu: init.tun.mtu,
    priv: new PrivilegedClient(channel, requests),
    ...(mesh ? { mesh } : {}),
    store: new RemoteStore(init.stateKind, channel, requests),
    ...(init.listenFd !== undefined ? { listenFd: init.listenFd } : {}),
    node: init.stateNode,
    clusterReport: (r) => channel.send(r),
  });
  // Operations first: the admin socket's stale-file check does real I/O (an event-loop turn);
  // the network listeners come after it and root goes right after them, in the same turn.
  // Several workers: worker 0 answers for the gateway.
  if (!worker || worker.index === 0) ops = await startOps(gw, log, worker ? ctlRelay : undefined);
  else {
    // This worker's running traffic totals, for worker 0's metrics (ops/worker-metrics.ts).
    statsHere = new OpsStats(gw);
    // The others' events go to worker 0 (metrics, status, `ctl events`); a few per session.
    gw.events.subscribe((ev) => {
      const json = JSON.stringify(ev);
      if (json.length <= MAX_EVENT_CHARS) channel.send({ t: 'ops-event', ev: json });
    });
  }
  await gw.listen();
  dropPrivileges(init.runAs);
  gw.serve();
  channel.send({ t: 'ready', pid: process.pid });
}

/** A relay's answer comes within the privileged process's CTL_RELAY_TIMEOUT_MS; this is a backstop. */
const CTL_RELAY_BACKSTOP_MS = 10_000;

/** ctl requests to the other workers, through the privileged process (priv/ctl-relay.ts). */
const ctlRelay: CtlRelayFn = async (ask) => {
  let timer: NodeJS.Timeout | undefined;
  const backstop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer from the privileged process')), CTL_RELAY_BACKSTOP_MS);
  });
  try {
    const a = await Promise.race([requests.ask((id) => channel.send({ t: 'ctl-relay', id, ask })), backstop]);
    if (a.t !== 'ctl-relayed') throw new Error(`unexpected answer ${a.t} to ctl-relay`);
    return a.answers;
  } finally {
    clearTimeout(timer);
  }
};

/** handed connections that became a tunnel or closed since the last conn-done */
let connDone: number[] = [];

function flushConnDone(): void {
  const ids = connDone;
  connDone = [];
  for (let i = 0; i < ids.length; i += MAX_CONN_DONE_IDS) channel.send({ t: 'conn-done', ids: ids.slice(i, i + MAX_CONN_DONE_IDS) });
}

/** The channel side of WorkerMesh (worker-messages.ts). */
function workerMesh(index: number, count: number): WorkerMesh {
  return {
    index,
    count,
    load: (tunnels, connections, accepted) => void channel.send({ t: 'load', tunnels, connections, accepted }),
    route: async (addr, cookie) => {
      const a = await requests.ask((id) => channel.send({ t: 'route', id, addr: formatIpv4(addr), cookie }));
      if (a.t !== 'route-done') throw new Error(`unexpected answer ${a.t} to route`);
      if (!a.ok) throw new Error(a.error ?? 'route failed');
    },
    unroute: (addr) => void channel.send({ t: 'unroute', addr: formatIpv4(addr) }),
    connDone: (id) => {
      // Batched: a burst of closes is a few messages, not one per connection.
      if (connDone.push(id) === 1) setImmediate(flushConnDone);
    },
    idChanged: (id, up) => void channel.send({ t: 'dtls-id', id, up }),
    foreignHello: (id, msg, address, port, local) => {
      if (msg.length <= 4096)
        channel.send({ t: 'dtls-hello', id, address, port, data: msg.toString('base64'), ...(local !== 0 ? { local: formatIpv4(local) } : {}) });
    },
    peerClosed: (address, port) => void channel.send({ t: 'dtls-peer-closed', address, port }),
    userLock,
    ctl: ctlRelay,
  };
}

/** Longer than a few logins of one user in a row (each holds the lock briefly); then the login is refused as busy. */
const USER_LOCK_WAIT_MS = 30_000;

/** The user's lock in the privileged process (priv/user-locks.ts), for max-sessions-per-user. */
async function userLock(user: string): Promise<(() => void) | null> {
  let lockId = 0;
  let timer: NodeJS.Timeout | undefined;
  const unlock = (): void => void channel.send({ t: 'user-unlock', id: lockId, user });
  const waited = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), USER_LOCK_WAIT_MS);
  });
  const asked = requests.ask((id) => {
    lockId = id;
    return channel.send({ t: 'user-lock', id, user });
  });
  try {
    const a = await Promise.race([asked, waited]);
    if (a === null) {
      // Given up: withdraw the request (a grant that comes later is released at once).
      unlock();
      void asked.then((late) => late.t === 'user-locked' && late.ok && unlock(), () => undefined);
      return null;
    }
    if (a.t !== 'user-locked') throw new Error(`unexpected answer ${a.t} to user-lock`);
    if (!a.ok) return null;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      unlock();
    };
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Handles from the privileged process (workers > 1), on Node's IPC channel: accepted TLS
 * connections and DTLS peers' connected sockets. Only the privileged process writes there.
 */
process.on('message', (m: WorkerHandleMessage, handle: unknown) => {
  if (m?.t === 'conn' && handle instanceof Socket) {
    if (gw && Number.isSafeInteger(m.id)) gw.acceptConnection(handle, m.id);
    else handle.destroy();
  } else if (m?.t === 'dtls-socket' && handle instanceof UdpSocket) {
    if (gw) gw.adoptDtlsPeer(handle, m.address, m.port, Buffer.from(m.data, 'base64'));
    else handle.close();
  }
});

/** `keepSessions`: a handover (`ctl restart`): no TERMINATE, the sessions stay in the store. */
async function shutdown(code: number, keepSessions = false): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await ops?.close();
    await (keepSessions ? gw?.handover() : gw?.stop());
  } finally {
    channel.close(null);
    process.disconnect?.();
    process.exit(code);
  }
}

// A signal that reaches this process directly (Ctrl-C reaches the whole process group) means
// the same as the privileged process's `stop`.
process.once('SIGTERM', () => void shutdown(0));
process.once('SIGINT', () => void shutdown(0));
// SIGHUP goes to the privileged process, which re-reads the files; here it must not kill us.
process.on('SIGHUP', () => undefined);
