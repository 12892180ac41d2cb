/**
 * The one check of a SessionRecord's shape and bounds, wherever a record comes from something
 * that may be wrong or hostile: the privileged channel (priv/state-messages.ts, a network process
 * may be compromised) and the stores' reads (session-codec.ts: a Redis value or an SQLite row
 * another program, an older version or a tamperer wrote). A record that passes is exactly a
 * SessionRecord with bounded strings and lists; nothing else reaches the gateway as a session.
 */
import type { SessionAttributes } from '../auth/types.js';
import { RADIUS_CLASS_MAX, USER_NAME_MAX_BYTES } from '../priv/limits.js';
import { BOUNDS, type Checker } from '../priv/validate.js';
import type { SessionRecord } from './types.js';

const ATTR_KEYS = ['framedIp', 'routes', 'dns', 'sessionTimeout', 'idleTimeout', 'acctInterim', 'radiusClass'] as const;

const RECORD_KEYS = [
  'cookieHash', 'id', 'user', 'group', 'remote', 'userAgent', 'createdAt', 'limits', 'attrs', 'methods', 'loginMessages',
  'address', 'node', 'disconnectedAt', 'lastActivity', 'rxBytes', 'txBytes', 'rxPackets', 'txPackets',
] as const;

function attrs(check: Checker, v: unknown, at: string): SessionAttributes {
  const o = check.obj(v, `${at}attrs`);
  check.onlyKeys(o, ATTR_KEYS, `${at}attrs`);
  const a: SessionAttributes = {};
  if (o['framedIp'] !== undefined) a.framedIp = check.ipv4(o['framedIp'], `${at}attrs.framedIp`);
  if (o['routes'] !== undefined) a.routes = check.strList(o['routes'], `${at}attrs.routes`, 256, 18);
  if (o['dns'] !== undefined) a.dns = check.list(o['dns'], `${at}attrs.dns`, 8, (x, w) => check.ipv4(x, w));
  if (o['sessionTimeout'] !== undefined) a.sessionTimeout = check.int(o['sessionTimeout'], `${at}attrs.sessionTimeout`);
  if (o['idleTimeout'] !== undefined) a.idleTimeout = check.int(o['idleTimeout'], `${at}attrs.idleTimeout`);
  if (o['acctInterim'] !== undefined) a.acctInterim = check.int(o['acctInterim'], `${at}attrs.acctInterim`);
  if (o['radiusClass'] !== undefined) a.radiusClass = check.strList(o['radiusClass'], `${at}attrs.radiusClass`, RADIUS_CLASS_MAX.items, RADIUS_CLASS_MAX.bytes);
  return a;
}

/**
 * Throws `check`'s error naming the first field that is wrong, as `${at}${field}` ("record.user"
 * on the channel, "field user" in a store).
 */
export function checkSessionRecord(v: unknown, check: Checker, at: string): SessionRecord {
  const o = check.obj(v, `${at}(record)`);
  check.onlyKeys(o, RECORD_KEYS, `${at}(record)`);
  const lim = check.obj(o['limits'], `${at}limits`);
  check.onlyKeys(lim, ['idleTimeout', 'sessionTimeout'], `${at}limits`);
  return {
    cookieHash: check.sha256Hex(o['cookieHash'], `${at}cookieHash`),
    id: check.int(o['id'], `${at}id`, 1),
    user: check.str(o['user'], `${at}user`, USER_NAME_MAX_BYTES),
    group: check.str(o['group'], `${at}group`, BOUNDS.nameBytes),
    remote: check.str(o['remote'], `${at}remote`, BOUNDS.remoteBytes),
    userAgent: check.str(o['userAgent'], `${at}userAgent`, 512),
    createdAt: check.int(o['createdAt'], `${at}createdAt`),
    limits: { idleTimeout: check.intOrNull(lim['idleTimeout'], `${at}limits.idleTimeout`), sessionTimeout: check.intOrNull(lim['sessionTimeout'], `${at}limits.sessionTimeout`) },
    attrs: attrs(check, o['attrs'], at),
    methods: check.strList(o['methods'], `${at}methods`, 8, 32),
    loginMessages: check.strList(o['loginMessages'], `${at}loginMessages`, 8, 2000),
    address: o['address'] === null ? null : check.ipv4Number(o['address'], `${at}address`),
    node: check.str(o['node'], `${at}node`, BOUNDS.nameBytes),
    disconnectedAt: check.intOrNull(o['disconnectedAt'], `${at}disconnectedAt`),
    lastActivity: check.int(o['lastActivity'], `${at}lastActivity`),
    rxBytes: check.int(o['rxBytes'], `${at}rxBytes`),
    txBytes: check.int(o['txBytes'], `${at}txBytes`),
    rxPackets: check.int(o['rxPackets'], `${at}rxPackets`),
    txPackets: check.int(o['txPackets'], `${at}txPackets`),
  };
}
