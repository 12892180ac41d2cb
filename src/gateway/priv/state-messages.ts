/**
 * The `state-*` messages of the privileged channel (issue 12): the network process asks the
 * privileged process, which owns the StateStore (state/types.ts), to record, find, lease and
 * ban. As with every message from the network process, the privileged side treats them as
 * hostile: parseStateRequest() accepts only these shapes with bounded strings, lists and numbers
 * (a session record is at most a few KiB: state/session-check.ts, the same check the stores make
 * on what they read), and anything else ends the channel.
 *
 * Every request carries an `id`; the answer is one `state-result` with the same id.
 */
import type { BanRecord, PoolRef, SessionRecord } from '../state/types.js';
import { USER_NAME_MAX_BYTES } from './limits.js';
import { checkSessionRecord } from '../state/session-check.js';
import { BOUNDS, Checker } from './validate.js';

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

const check: Checker = new Checker('network process sent an invalid state message');

export function cookieHashOf(v: unknown, what = 'cookieHash'): string {
  return check.sha256Hex(v, what);
}

export function sessionRecord(v: unknown): SessionRecord {
  return checkSessionRecord(v, check, 'record.');
}

function poolRef(v: unknown): PoolRef {
  const o = check.obj(v, 'pool');
  check.onlyKeys(o, ['name', 'cidr'], 'pool');
  return { name: check.str(o['name'], 'pool.name', BOUNDS.nameBytes), cidr: check.ipv4Cidr(o['cidr'], 'pool.cidr') };
}

const BAN_KINDS = ['address', 'user'] as const satisfies ReadonlyArray<BanRecord['kind']>;

function banRecord(v: unknown): BanRecord {
  const o = check.obj(v, 'ban');
  check.onlyKeys(o, ['kind', 'key', 'until'], 'ban');
  return { kind: check.oneOf(o['kind'], 'ban kind', BAN_KINDS), key: check.str(o['key'], 'ban.key', USER_NAME_MAX_BYTES), until: check.int(o['until'], 'ban.until') };
}

/** Validates a `state-*` request (its `t` already starts with "state-"). Throws ChannelProtocolError. */
export function parseStateRequest(v: Record<string, unknown>): StateRequest {
  const id = check.int(v['id'], 'id');
  switch (v['t']) {
    case 'state-next-id':
    case 'state-list':
    case 'state-bans':
      check.onlyKeys(v, ['t', 'id'], v['t']);
      return { t: v['t'], id };
    case 'state-put':
      check.onlyKeys(v, ['t', 'id', 'record'], 'state-put');
      return { t: 'state-put', id, record: sessionRecord(v['record']) };
    case 'state-get':
    case 'state-delete':
      check.onlyKeys(v, ['t', 'id', 'cookieHash'], v['t']);
      return { t: v['t'], id, cookieHash: cookieHashOf(v['cookieHash']) };
    case 'state-lease': {
      check.onlyKeys(v, ['t', 'id', 'pool', 'holder', 'hint'], 'state-lease');
      const m: StateRequest = { t: 'state-lease', id, pool: poolRef(v['pool']), holder: cookieHashOf(v['holder'], 'holder') };
      if (v['hint'] !== undefined) m.hint = check.ipv4Number(v['hint'], 'hint');
      return m;
    }
    case 'state-release':
      check.onlyKeys(v, ['t', 'id', 'pool', 'holder'], 'state-release');
      return { t: 'state-release', id, pool: poolRef(v['pool']), holder: cookieHashOf(v['holder'], 'holder') };
    case 'state-ban':
      check.onlyKeys(v, ['t', 'id', 'ban'], 'state-ban');
      return { t: 'state-ban', id, ban: banRecord(v['ban']) };
    case 'state-unban':
      check.onlyKeys(v, ['t', 'id', 'kind', 'key'], 'state-unban');
      return { t: 'state-unban', id, kind: check.oneOf(v['kind'], 'ban kind', BAN_KINDS), key: check.str(v['key'], 'key', USER_NAME_MAX_BYTES) };
    default:
      return check.fail(`unknown type ${JSON.stringify(String(v['t']).slice(0, 40))}`);
  }
}
