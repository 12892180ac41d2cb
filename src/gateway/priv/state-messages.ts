/**
 * The `state-*` messages of the privileged channel (issue 12): the network process asks the
 * privileged process, which owns the StateStore (state/types.ts), to record, find, lease and
 * ban. As with every message from the network process, the privileged side treats them as
 * hostile: parseStateRequest() accepts only these shapes with bounded strings, lists and numbers
 * (a session record is at most a few KiB), and anything else ends the channel.
 *
 * Every request carries an `id`; the answer is one `state-result` with the same id.
 */
import type { SessionAttributes } from '../auth/types.js';
import type { BanRecord, PoolRef, SessionRecord } from '../state/types.js';
import { USER_NAME_MAX_BYTES } from './limits.js';

/** network process -> privileged process */
export type StateRequest =
  | { t: 'state-next-id'; id: number }
  | { t: 'state-put'; id: number; record: SessionRecord }
  | { t: 'state-get'; id: number; cookieHash: string }
  | { t: 'state-delete'; id: number; cookieHash: string }
  | { t: 'state-list'; id: number }
  | { t: 'state-lease'; id: number; pool: PoolRef; holder: string; hint?: number }
  | { t: 'state-release'; id: number; pool: PoolRef; holder: string }
  | { t: 'state-ban'; id: number; ban: BanRecord }
  | { t: 'state-unban'; id: number; kind: BanRecord['kind']; key: string }
  | { t: 'state-bans'; id: number };

/** privileged process -> network process */
export type StateAnswer =
  /** `value`: the request's result (number, record, list, null); absent for writes */
  | { t: 'state-result'; id: number; ok: true; value?: unknown }
  | { t: 'state-result'; id: number; ok: false; error: string };

/** privileged process -> network process(es), unasked: a ban made elsewhere (another worker or node) */
export type StateBroadcast = { t: 'state-ban-added'; ban: BanRecord } | { t: 'state-ban-removed'; kind: BanRecord['kind']; key: string };

export class StateMessageError extends Error {
  constructor(message: string) {
    super(`network process sent an invalid state message: ${message}`);
    this.name = 'StateMessageError';
  }
}

function fail(why: string): never {
  throw new StateMessageError(why);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${what}: unexpected key ${JSON.stringify(k.slice(0, 40))}`);
}

function str(v: unknown, what: string, maxBytes: number): string {
  if (typeof v !== 'string') fail(`${what} must be a string`);
  if (Buffer.byteLength(v) > maxBytes) fail(`${what} longer than ${maxBytes} bytes`);
  return v;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer`);
  return v;
}

function intOrNull(v: unknown, what: string): number | null {
  return v === null ? null : int(v, what);
}

function strList(v: unknown, what: string, maxItems: number, maxBytes: number): string[] {
  if (!Array.isArray(v) || v.length > maxItems) fail(`${what} must be a list of at most ${maxItems}`);
  return v.map((x) => str(x, what, maxBytes));
}

const HASH = /^[0-9a-f]{64}$/;

export function cookieHashOf(v: unknown, what = 'cookieHash'): string {
  const s = str(v, what, 64);
  if (!HASH.test(s)) fail(`${what} must be 64 lower-case hex digits`);
  return s;
}

function address(v: unknown, what: string): number {
  const a = int(v, what);
  if (a > 0xffffffff) fail(`${what} is not an IPv4 address`);
  return a;
}

const ATTR_KEYS = ['framedIp', 'routes', 'dns', 'sessionTimeout', 'idleTimeout', 'acctInterim', 'radiusClass'] as const;

function attrs(v: unknown): SessionAttributes {
  if (!isObj(v)) fail('attrs must be an object');
  onlyKeys(v, ATTR_KEYS, 'attrs');
  const a: SessionAttributes = {};
  if (v['framedIp'] !== undefined) a.framedIp = str(v['framedIp'], 'attrs.framedIp', 15);
  if (v['routes'] !== undefined) a.routes = strList(v['routes'], 'attrs.routes', 256, 18);
  if (v['dns'] !== undefined) a.dns = strList(v['dns'], 'attrs.dns', 8, 15);
  if (v['sessionTimeout'] !== undefined) a.sessionTimeout = int(v['sessionTimeout'], 'attrs.sessionTimeout');
  if (v['idleTimeout'] !== undefined) a.idleTimeout = int(v['idleTimeout'], 'attrs.idleTimeout');
  if (v['acctInterim'] !== undefined) a.acctInterim = int(v['acctInterim'], 'attrs.acctInterim');
  if (v['radiusClass'] !== undefined) a.radiusClass = strList(v['radiusClass'], 'attrs.radiusClass', 16, 400);
  return a;
}

const RECORD_KEYS = [
  'cookieHash', 'id', 'user', 'group', 'remote', 'userAgent', 'createdAt', 'limits', 'attrs', 'methods', 'loginMessages',
  'address', 'node', 'disconnectedAt', 'lastActivity', 'rxBytes', 'txBytes', 'rxPackets', 'txPackets',
] as const;

export function sessionRecord(v: unknown): SessionRecord {
  if (!isObj(v)) fail('record must be an object');
  onlyKeys(v, RECORD_KEYS, 'record');
  const lim = v['limits'];
  if (!isObj(lim)) fail('record.limits must be an object');
  onlyKeys(lim, ['idleTimeout', 'sessionTimeout'], 'record.limits');
  const id = int(v['id'], 'record.id');
  if (id === 0) fail('record.id must be positive');
  return {
    cookieHash: cookieHashOf(v['cookieHash'], 'record.cookieHash'),
    id,
    user: str(v['user'], 'record.user', USER_NAME_MAX_BYTES),
    group: str(v['group'], 'record.group', 64),
    remote: str(v['remote'], 'record.remote', 64),
    userAgent: str(v['userAgent'], 'record.userAgent', 512),
    createdAt: int(v['createdAt'], 'record.createdAt'),
    limits: { idleTimeout: intOrNull(lim['idleTimeout'], 'limits.idleTimeout'), sessionTimeout: intOrNull(lim['sessionTimeout'], 'limits.sessionTimeout') },
    attrs: attrs(v['attrs']),
    methods: strList(v['methods'], 'record.methods', 8, 32),
    loginMessages: strList(v['loginMessages'], 'record.loginMessages', 8, 2000),
    address: v['address'] === null ? null : address(v['address'], 'record.address'),
    node: str(v['node'], 'record.node', 64),
    disconnectedAt: intOrNull(v['disconnectedAt'], 'record.disconnectedAt'),
    lastActivity: int(v['lastActivity'], 'record.lastActivity'),
    rxBytes: int(v['rxBytes'], 'record.rxBytes'),
    txBytes: int(v['txBytes'], 'record.txBytes'),
    rxPackets: int(v['rxPackets'], 'record.rxPackets'),
    txPackets: int(v['txPackets'], 'record.txPackets'),
  };
}

function poolRef(v: unknown): PoolRef {
  if (!isObj(v)) fail('pool must be an object');
  onlyKeys(v, ['name', 'cidr'], 'pool');
  return { name: str(v['name'], 'pool.name', 64), cidr: str(v['cidr'], 'pool.cidr', 18) };
}

function banKind(v: unknown): BanRecord['kind'] {
  if (v !== 'address' && v !== 'user') fail('ban kind must be address or user');
  return v;
}

function banRecord(v: unknown): BanRecord {
  if (!isObj(v)) fail('ban must be an object');
  onlyKeys(v, ['kind', 'key', 'until'], 'ban');
  return { kind: banKind(v['kind']), key: str(v['key'], 'ban.key', USER_NAME_MAX_BYTES), until: int(v['until'], 'ban.until') };
}

/** Validates a `state-*` request (its `t` already starts with "state-"). Throws StateMessageError. */
export function parseStateRequest(v: Record<string, unknown>): StateRequest {
  const id = int(v['id'], 'id');
  switch (v['t']) {
    case 'state-next-id':
    case 'state-list':
    case 'state-bans':
      onlyKeys(v, ['t', 'id'], v['t']);
      return { t: v['t'], id };
    case 'state-put':
      onlyKeys(v, ['t', 'id', 'record'], 'state-put');
      return { t: 'state-put', id, record: sessionRecord(v['record']) };
    case 'state-get':
    case 'state-delete':
      onlyKeys(v, ['t', 'id', 'cookieHash'], v['t']);
      return { t: v['t'], id, cookieHash: cookieHashOf(v['cookieHash']) };
    case 'state-lease': {
      onlyKeys(v, ['t', 'id', 'pool', 'holder', 'hint'], 'state-lease');
      const m: StateRequest = { t: 'state-lease', id, pool: poolRef(v['pool']), holder: cookieHashOf(v['holder'], 'holder') };
      if (v['hint'] !== undefined) m.hint = address(v['hint'], 'hint');
      return m;
    }
    case 'state-release':
      onlyKeys(v, ['t', 'id', 'pool', 'holder'], 'state-release');
      return { t: 'state-release', id, pool: poolRef(v['pool']), holder: cookieHashOf(v['holder'], 'holder') };
    case 'state-ban':
      onlyKeys(v, ['t', 'id', 'ban'], 'state-ban');
      return { t: 'state-ban', id, ban: banRecord(v['ban']) };
    case 'state-unban':
      onlyKeys(v, ['t', 'id', 'kind', 'key'], 'state-unban');
      return { t: 'state-unban', id, kind: banKind(v['kind']), key: str(v['key'], 'key', USER_NAME_MAX_BYTES) };
    default:
      fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  }
}
