/**
 * An `auth-servers:` entry of type ldap, as parsed YAML, turned into LdapMethodOptions: the
 * YAML names (issue 10's contract: url, bind-dn, bind-password, base, user-filter,
 * group-attribute, group-map; and user-dn-template, user-attribute, start-tls, ca-file,
 * group-base, group-filter, timeout, max-concurrent) checked for their types, unknown keys
 * refused. The values themselves are checked by LdapMethod's constructor (options.ts).
 */
import * as path from 'node:path';
import { LdapConfigError, type LdapMethodOptions } from './options.js';

const STRING_KEYS = {
  url: 'url',
  'bind-dn': 'bindDn',
  'bind-password': 'bindPassword',
  base: 'base',
  'user-filter': 'userFilter',
  'user-dn-template': 'userDnTemplate',
  'user-attribute': 'userAttribute',
  'group-attribute': 'groupAttribute',
  'group-base': 'groupBase',
  'group-filter': 'groupFilter',
} as const;

/** The YAML keys an ldap auth-server accepts (besides `type`). */
export const LDAP_CONFIG_KEYS = [...Object.keys(STRING_KEYS), 'start-tls', 'ca-file', 'group-map', 'timeout', 'max-concurrent'];

/**
 * `raw` is the mapping under `auth-servers: NAME:` (with `type: ldap`); `baseDir` resolves a
 * relative ca-file (the configuration file's folder). Throws LdapConfigError.
 */
export function ldapOptionsFromConfig(name: string, raw: Record<string, unknown>, baseDir: string): LdapMethodOptions {
  const fail = (msg: string): never => {
    throw new LdapConfigError(name, msg);
  };
  for (const key of Object.keys(raw)) {
    if (key !== 'type' && !LDAP_CONFIG_KEYS.includes(key)) fail(`unknown key ${JSON.stringify(key)} (known: ${LDAP_CONFIG_KEYS.join(', ')})`);
  }
  const out: Partial<LdapMethodOptions> & { name: string } = { name };
  for (const [key, field] of Object.entries(STRING_KEYS)) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    // YAML reads `bind-password: 1234` as a number; a password is text.
    if (typeof v === 'number' && key === 'bind-password') out[field] = String(v);
    else if (typeof v === 'string') out[field] = v;
    else fail(`${key} must be a string`);
  }
  if (out.url === undefined) fail('url is required');
  if (out.base === undefined) fail('base is required');
  const startTls = raw['start-tls'];
  if (startTls !== undefined && typeof startTls !== 'boolean') fail('start-tls must be true or false');
  if (startTls === true) out.startTls = true;
  const caFile = raw['ca-file'];
  if (caFile !== undefined) {
    if (typeof caFile !== 'string' || caFile === '') fail('ca-file must be a file name');
    out.caFile = path.resolve(baseDir, caFile as string);
  }
  for (const [key, field] of [['timeout', 'timeout'], ['max-concurrent', 'maxConcurrent']] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number') fail(`${key} must be a number`);
    out[field] = v as number;
  }
  const map = raw['group-map'];
  if (map !== undefined && map !== null) {
    if (typeof map !== 'object' || Array.isArray(map)) fail('group-map must be a mapping: directory group DN -> gateway group');
    const groupMap: Record<string, string> = {};
    for (const [dn, group] of Object.entries(map as Record<string, unknown>)) {
      if (typeof group !== 'string') fail(`group-map: ${JSON.stringify(dn)} must map to a group name`);
      groupMap[dn] = group as string;
    }
    out.groupMap = groupMap;
  }
  return out as LdapMethodOptions;
}
