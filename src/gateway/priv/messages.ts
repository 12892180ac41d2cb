/**
 * What the gateway's two processes say to each other over the local channel (frames.ts).
 *
 * The network process is the one that parses the internet, so the privileged process treats
 * everything it receives as hostile: parseNetworkMessage() accepts only the shapes below, with
 * bounded strings and lists, and anything else ends the channel (the privileged process then
 * stops the gateway: a network process that says nonsense may be compromised).
 */
import { formatCidr, parseIpv4Cidr } from '../../protocol/ipv4.js';
import { USER_NAME_MAX_BYTES } from './limits.js';
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

export class ChannelProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelProtocolError';
  }
}

const MAX_PASSWORD_BYTES = 1024;
const MAX_ERROR_CHARS = 2000;
const MAX_SUBNETS = 256;

function fail(why: string): never {
  throw new ChannelProtocolError(`network process sent an invalid message: ${why}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, keys: string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`unexpected key ${JSON.stringify(k.slice(0, 40))}`);
}

function id(o: Record<string, unknown>): number {
  const v = o['id'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('id must be a non-negative integer');
  return v;
}

function boundedString(v: unknown, what: string, maxBytes: number): string {
  if (typeof v !== 'string') fail(`${what} must be a string`);
  if (Buffer.byteLength(v) > maxBytes) fail(`${what} longer than ${maxBytes} bytes`);
  return v;
}

const MAX_FIELDS = 8;

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer`);
  return v;
}

/** The same shape and bounds as the network process's certVerdict() makes (SAN e-mail included). */
function certInfo(v: unknown): ClientCertInfo {
  const info = checkClientCertInfo(v);
  if (!info) fail('cert is not a valid certificate summary (subject lists, SHA-256 fingerprint, serial, sanEmail)');
  return info;
}

function acctRecord(v: unknown): AcctRecord {
  if (!isObj(v)) fail('record must be an object');
  onlyKeys(v, ['sessionId', 'user', 'group', 'remote', 'framedIp', 'radiusClass', 'sessionTime', 'inOctets', 'outOctets', 'inPackets', 'outPackets', 'interim']);
  const rec: AcctRecord = {
    sessionId: boundedString(v['sessionId'], 'sessionId', 64),
    user: boundedString(v['user'], 'user', USER_NAME_MAX_BYTES),
    group: boundedString(v['group'], 'group', 64),
    remote: boundedString(v['remote'], 'remote', 64),
    sessionTime: count(v['sessionTime'], 'sessionTime'),
    inOctets: count(v['inOctets'], 'inOctets'),
    outOctets: count(v['outOctets'], 'outOctets'),
    inPackets: count(v['inPackets'], 'inPackets'),
    outPackets: count(v['outPackets'], 'outPackets'),
  };
  if (v['framedIp'] !== undefined) rec.framedIp = boundedString(v['framedIp'], 'framedIp', 15);
  if (v['interim'] !== undefined) rec.interim = count(v['interim'], 'interim');
  if (v['radiusClass'] !== undefined) {
    const c = v['radiusClass'];
    if (!Array.isArray(c) || c.length > 16) fail('radiusClass must be a list of at most 16');
    rec.radiusClass = c.map((x) => boundedString(x, 'radiusClass', 400));
  }
  return rec;
}

/** Validates one decoded frame from the network process. Throws ChannelProtocolError. */
export function parseNetworkMessage(v: unknown): NetworkMessage {
  if (!isObj(v)) fail('not an object');
  switch (v['t']) {
    case 'ready': {
      onlyKeys(v, ['t', 'pid']);
      const pid = v['pid'];
      if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) fail('pid');
      return { t: 'ready', pid };
    }
    case 'fatal': {
      onlyKeys(v, ['t', 'error', 'code']);
      const error = boundedString(v['error'], 'error', MAX_ERROR_CHARS * 4);
      const m: NetworkMessage = { t: 'fatal', error: error.slice(0, MAX_ERROR_CHARS) };
      if (v['code'] !== undefined) m.code = boundedString(v['code'], 'code', 64);
      return m;
    }
    case 'auth-start': {
      onlyKeys(v, ['t', 'id', 'req']);
      const r = v['req'];
      if (!isObj(r)) fail('req must be an object');
      onlyKeys(r, ['group', 'user', 'password', 'remote', 'cert']);
      const req: AuthStart = {
        group: boundedString(r['group'], 'group', 64),
        user: boundedString(r['user'], 'user', USER_NAME_MAX_BYTES),
        password: boundedString(r['password'], 'password', MAX_PASSWORD_BYTES),
        remote: boundedString(r['remote'], 'remote', 64),
      };
      if (r['cert'] !== undefined) req.cert = certInfo(r['cert']);
      return { t: 'auth-start', id: id(v), req };
    }
    case 'auth-answer': {
      onlyKeys(v, ['t', 'id', 'req']);
      const r = v['req'];
      if (!isObj(r)) fail('req must be an object');
      onlyKeys(r, ['handle', 'fields', 'remote']);
      const f = r['fields'];
      if (!isObj(f) || Object.keys(f).length > MAX_FIELDS) fail(`fields must be an object of at most ${MAX_FIELDS} entries`);
      const fields: Record<string, string> = {};
      for (const [k, x] of Object.entries(f)) {
        if (Buffer.byteLength(k) > 64) fail('field name longer than 64 bytes');
        fields[k] = boundedString(x, 'field', MAX_PASSWORD_BYTES);
      }
      return { t: 'auth-answer', id: id(v), req: { handle: boundedString(r['handle'], 'handle', 64), fields, remote: boundedString(r['remote'], 'remote', 64) } };
    }
    case 'acct': {
      onlyKeys(v, ['t', 'event', 'record', 'cause']);
      const event = v['event'];
      if (typeof event !== 'string' || !(ACCT_EVENTS as readonly string[]).includes(event)) fail('event');
      const m: NetworkMessage = { t: 'acct', event: event as AcctEvent, record: acctRecord(v['record']) };
      if (v['cause'] !== undefined) {
        if (typeof v['cause'] !== 'string' || !(ACCT_CAUSES as readonly string[]).includes(v['cause'])) fail('cause');
        m.cause = v['cause'] as AcctCause;
      }
      return m;
    }
    case 'restart':
      onlyKeys(v, ['t']);
      return { t: 'restart' };
    case 'reload-read':
    case 'reload-commit':
      onlyKeys(v, ['t', 'id']);
      return { t: v['t'], id: id(v) };
    case 'reload-subnets': {
      onlyKeys(v, ['t', 'id', 'cidrs']);
      const list = v['cidrs'];
      if (!Array.isArray(list) || list.length > MAX_SUBNETS) fail(`cidrs must be a list of at most ${MAX_SUBNETS}`);
      const cidrs = list.map((c) => {
        const s = boundedString(c, 'cidr', 18);
        // Only the canonical ADDRESS/PREFIX form formatCidr writes (what the network process sends).
        const parsed = parseIpv4Cidr(s);
        if (!parsed || formatCidr(parsed) !== s) fail(`not an IPv4 CIDR: ${JSON.stringify(s)}`);
        return s;
      });
      return { t: 'reload-subnets', id: id(v), cidrs };
    }
    default:
      if (typeof v['t'] === 'string' && WORKER_MESSAGE_TYPES.has(v['t'])) return parseWorkerMessage(v);
      if (typeof v['t'] === 'string' && v['t'].startsWith('state-')) return parseStateRequest(v);
      if (typeof v['t'] === 'string' && v['t'].startsWith('cluster-')) return parseClusterReport(v);
      if (typeof v['t'] === 'string' && v['t'].startsWith('ctl-')) return parseCtlRequest(v);
      fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  }
}
