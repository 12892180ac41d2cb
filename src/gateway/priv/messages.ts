/**
 * What the gateway's two processes say to each other over the local channel (frames.ts).
 *
 * The network process is the one that parses the internet, so the privileged process treats
 * everything it receives as hostile: parseNetworkMessage() accepts only the shapes below, with
 * bounded strings and lists, and anything else ends the channel (the privileged process then
 * stops the gateway: a network process that says nonsense may be compromised).
 */
import { RADIUS_CLASS_MAX, USER_NAME_MAX_BYTES } from './limits.js';
import { BOUNDS, ChannelProtocolError, Checker } from './validate.js';
import type { AuthAnswer, AuthOutcome, AuthStart, ClientCertInfo } from '../auth/types.js';
import { ACCT_CAUSES, ACCT_EVENTS, type AcctCause, type AcctEvent, type AcctRecord } from '../auth/accounting-record.js';
import { checkClientCertInfo } from '../auth/client-cert.js';
import { parseWorkerMessage, WORKER_MESSAGE_TYPES, type WorkerMessage, type WorkerReply } from './worker-messages.js';
import type { StateStore } from '../state/types.js';
import { parseStateRequest, type StateAnswer, type StateBroadcast, type StateRequest } from './state-messages.js';
import { parseClusterReport, type ClusterNotice, type ClusterReport } from './cluster-messages.js';
import { parseCtlRequest, type CtlReply, type CtlRequest } from './ctl-messages.js';

/** network process -> privileged process */
export type NetworkMessage =
  /** listeners bound and root given up; `pid` for the log */
  | { t: 'ready'; pid: number }
  /** start-up failed; `error` is printed by the privileged process */
  | { t: 'fatal'; error: string; code?: string }
  /** start a login (auth/engine.ts runs in the privileged process: hashes and backend secrets live there) */
  | { t: 'auth-start'; id: number; req: AuthStart }
  /** the answer to a follow-up form of a login */
  | { t: 'auth-answer'; id: number; req: AuthAnswer }
  /** RADIUS accounting for a session (fire and forget) */
  | { t: 'acct'; event: AcctEvent; record: AcctRecord; cause?: AcctCause }
  /** reload step 1: read and validate the config file, profile and user store again */
  | { t: 'reload-read'; id: number }
  /** reload step 2: add these pool subnets (from the config read in step 1) to the TUN device */
  | { t: 'reload-subnets'; id: number; cidrs: string[] }
  /** reload step 3: the network process adopted the new config; switch the user store too */
  | { t: 'reload-commit'; id: number }
  /** `ctl restart` (admin API): hand the sessions over to a new gateway process (cli/serve-supervisor.ts) */
  | { t: 'restart' }
  /** the session store (issue 12), owned by the privileged process: state-messages.ts */
  | StateRequest
  /** this node's load and drain state, for the cluster's registry: cluster-messages.ts */
  | ClusterReport
  /** workers > 1: load, tunnel routes, DTLS peers (worker-messages.ts) */
  | WorkerMessage
  /** workers > 1: `ctl` acting on every worker's sessions (ctl-messages.ts) */
  | CtlRequest;

/** A profile as the network process serves it (the privileged process reads the file). */
export interface ProfileWire {
  uri: string;
  sha1: string;
  /** base64 */
  content: string;
}

/** privileged process -> network process */
export type PrivilegedMessage =
  | {
      t: 'init';
      /** GatewayConfig, as JSON (no secrets of the auth part: see parent.ts networkView) */
      config: unknown;
      identity: { certPem: string; keyPem: string; certFile: string; generated: boolean };
      clientCaPem: string | null;
      /** tls.crl (PEM), only with clientCaPem */
      clientCrlPem: string | null;
      profile: ProfileWire | null;
      /** offload: the TUN_F_* bits the TUN was opened with (0 = a plain TUN); mtu: its MTU */
      tun: { name: string; fd: number; offload: number; mtu: number };
      /** the TLS port's listening socket, bound by the privileged process (absent: bind it here) */
      listenFd?: number;
      runAs: { uid: number; gid: number; user: string; group: string };
      users: number;
      logLevel: string;
      logFormat: 'json' | 'pretty' | 'auto';
      /** this network process's place among `workers` (absent: the only one) */
      worker?: { index: number; count: number };
      /** which StateStore the privileged process opened (state-* requests reach it) */
      stateKind: StateStore['kind'];
      /** this gateway's name in session records */
      stateNode: string;
    }
  | StateAnswer
  | StateBroadcast
  | ClusterNotice
  | { t: 'auth-outcome'; id: number; outcome: AuthOutcome }
  /** clientCa: tls.client-ca / tls.crl read again from the running paths (a CRL is refreshed by a reload) */
  | { t: 'reload-config'; id: number; ok: true; config: unknown; profile: ProfileWire | null; users: number; clientCa?: { caPem: string; crlPem: string | null } | null }
  | { t: 'reload-done'; id: number; ok: boolean; error?: string }
  | { t: 'reload-failed'; id: number; ok: false; error: string }
  /** SIGHUP reached the privileged process */
  | { t: 'reload' }
  /**
   * SIGTERM/SIGINT reached the privileged process: TERMINATE every client and exit. With
   * `keepSessions` (`ctl restart`): close every connection WITHOUT a goodbye and keep the
   * sessions in the store, so the clients reconnect with their cookie to the next process.
   */
  | { t: 'stop'; signal: string; keepSessions?: boolean }
  /** workers > 1 (worker-messages.ts, ctl-messages.ts) */
  | WorkerReply
  | CtlReply;

export { ChannelProtocolError };

const MAX_PASSWORD_BYTES = 1024;
const MAX_ERROR_CHARS = 2000;
const MAX_SUBNETS = 256;
const MAX_FIELDS = 8;

const check: Checker = new Checker('network process sent an invalid message');

/** The same shape and bounds as the network process's certVerdict() makes (SAN e-mail included). */
function certInfo(v: unknown): ClientCertInfo {
  const info = checkClientCertInfo(v);
  if (!info) check.fail('cert is not a valid certificate summary (subject lists, SHA-256 fingerprint, serial, sanEmail)');
  return info;
}

function acctRecord(v: unknown): AcctRecord {
  const o = check.obj(v, 'record');
  check.onlyKeys(o, ['sessionId', 'user', 'group', 'remote', 'framedIp', 'radiusClass', 'sessionTime', 'inOctets', 'outOctets', 'inPackets', 'outPackets', 'interim']);
  const rec: AcctRecord = {
    sessionId: check.str(o['sessionId'], 'sessionId', 64),
    user: check.str(o['user'], 'user', USER_NAME_MAX_BYTES),
    group: check.str(o['group'], 'group', BOUNDS.nameBytes),
    remote: check.str(o['remote'], 'remote', BOUNDS.remoteBytes),
    sessionTime: check.int(o['sessionTime'], 'sessionTime'),
    inOctets: check.int(o['inOctets'], 'inOctets'),
    outOctets: check.int(o['outOctets'], 'outOctets'),
    inPackets: check.int(o['inPackets'], 'inPackets'),
    outPackets: check.int(o['outPackets'], 'outPackets'),
  };
  if (o['framedIp'] !== undefined) rec.framedIp = check.ipv4(o['framedIp'], 'framedIp');
  if (o['interim'] !== undefined) rec.interim = check.int(o['interim'], 'interim');
  if (o['radiusClass'] !== undefined) rec.radiusClass = check.strList(o['radiusClass'], 'radiusClass', RADIUS_CLASS_MAX.items, RADIUS_CLASS_MAX.bytes);
  return rec;
}

/** Validates one decoded frame from the network process. Throws ChannelProtocolError. */
export function parseNetworkMessage(v: unknown): NetworkMessage {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) check.fail('not an object');
  const o = v as Record<string, unknown>;
  const id = (): number => check.int(o['id'], 'id');
  switch (o['t']) {
    case 'ready':
      check.onlyKeys(o, ['t', 'pid']);
      return { t: 'ready', pid: check.int(o['pid'], 'pid', 1) };
    case 'fatal': {
      check.onlyKeys(o, ['t', 'error', 'code']);
      const error = check.str(o['error'], 'error', MAX_ERROR_CHARS * 4);
      const m: NetworkMessage = { t: 'fatal', error: error.slice(0, MAX_ERROR_CHARS) };
      if (o['code'] !== undefined) m.code = check.str(o['code'], 'code', 64);
      return m;
    }
    case 'auth-start': {
      check.onlyKeys(o, ['t', 'id', 'req']);
      const r = check.obj(o['req'], 'req');
      check.onlyKeys(r, ['group', 'user', 'password', 'remote', 'cert']);
      const req: AuthStart = {
        group: check.str(r['group'], 'group', BOUNDS.nameBytes),
        user: check.str(r['user'], 'user', USER_NAME_MAX_BYTES),
        password: check.str(r['password'], 'password', MAX_PASSWORD_BYTES),
        remote: check.str(r['remote'], 'remote', BOUNDS.remoteBytes),
      };
      if (r['cert'] !== undefined) req.cert = certInfo(r['cert']);
      return { t: 'auth-start', id: id(), req };
    }
    case 'auth-answer': {
      check.onlyKeys(o, ['t', 'id', 'req']);
      const r = check.obj(o['req'], 'req');
      check.onlyKeys(r, ['handle', 'fields', 'remote']);
      const f = r['fields'];
      if (typeof f !== 'object' || f === null || Array.isArray(f) || Object.keys(f).length > MAX_FIELDS) check.fail(`fields must be an object of at most ${MAX_FIELDS} entries`);
      const fields: Record<string, string> = {};
      for (const [k, x] of Object.entries(f)) {
        check.str(k, 'field name', 64);
        fields[k] = check.str(x, 'field', MAX_PASSWORD_BYTES);
      }
      return { t: 'auth-answer', id: id(), req: { handle: check.str(r['handle'], 'handle', BOUNDS.nameBytes), fields, remote: check.str(r['remote'], 'remote', BOUNDS.remoteBytes) } };
    }
    case 'acct': {
      check.onlyKeys(o, ['t', 'event', 'record', 'cause']);
      const m: NetworkMessage = { t: 'acct', event: check.oneOf(o['event'], 'event', ACCT_EVENTS), record: acctRecord(o['record']) };
      if (o['cause'] !== undefined) m.cause = check.oneOf(o['cause'], 'cause', ACCT_CAUSES);
      return m;
    }
    case 'restart':
      check.onlyKeys(o, ['t']);
      return { t: 'restart' };
    case 'reload-read':
    case 'reload-commit':
      check.onlyKeys(o, ['t', 'id']);
      return { t: o['t'], id: id() };
    case 'reload-subnets':
      check.onlyKeys(o, ['t', 'id', 'cidrs']);
      // Only the canonical ADDRESS/PREFIX form formatCidr writes (what the network process sends).
      return { t: 'reload-subnets', id: id(), cidrs: check.list(o['cidrs'], 'cidrs', MAX_SUBNETS, (c) => check.ipv4Cidr(c, 'cidr')) };
    default: {
      const t = o['t'];
      if (typeof t === 'string' && WORKER_MESSAGE_TYPES.has(t)) return parseWorkerMessage(o);
      if (typeof t === 'string' && t.startsWith('state-')) return parseStateRequest(o);
      if (typeof t === 'string' && t.startsWith('cluster-')) return parseClusterReport(o);
      if (typeof t === 'string' && t.startsWith('ctl-')) return parseCtlRequest(o);
      return check.fail(`unknown type ${JSON.stringify(String(t).slice(0, 40))}`);
    }
  }
}
