/**
 * The `ldap` auth method: a user name and password checked against a directory, groups from
 * the directory mapped to gateway groups (issue 10).
 *
 * Two ways to find the user:
 * - search, then bind (bind-dn given): bind as the search account, search `base` (subtree) with
 *   user-filter, exactly one entry or the login is refused, then bind as that entry's DN with
 *   the password;
 * - direct bind (user-dn-template): bind as the DN made from the template, then read the own
 *   entry for its groups.
 * Groups: the values of group-attribute (memberOf) on the user entry, plus, with group-base, the
 * DNs of the group entries group-filter finds (groupOfNames with member={dn}); mapped through
 * group-map (group-map.ts says what an unmapped user gets).
 *
 * Every login uses its own connection (connection.ts) with a deadline: a hanging or flooding
 * server fails that login as kind 'error', never the gateway. An empty password is refused
 * before anything is sent: LDAP takes a DN with an empty password as an *unauthenticated* bind,
 * which many servers answer with success (RFC 4513 §5.1.2).
 *
 * Logs carry the server name, the user name (printable), the DN and the outcome; never a password.
 */
import { FilterParser, ResultCodeError, type Entry } from 'ldapts';
import { printableUserName } from '../../user-name.js';
import type { LoginContext, MethodResult, PasswordMethod } from '../types.js';
import { LdapConnection, LdapTimeoutError } from './connection.js';
import { fillDnTemplate } from './dn.js';
import { fillFilter } from './filter.js';
import { LDAP_LIMITS, LdapConfigError, resolveLdapOptions, type LdapMethodOptions, type ResolvedLdapOptions } from './options.js';
import { PasswordPolicyControl, verdictOfFailure, verdictOfSuccess, type BindVerdict } from './password-policy.js';

export { LdapConfigError, LDAP_LIMITS, type LdapLog, type LdapMethodOptions } from './options.js';

/** Result codes of a user bind that mean "not this password / not this account", not a server fault. */
const REFUSED_CODES = new Set([
  32, // noSuchObject (direct bind to a DN that does not exist, on some servers)
  34, // invalidDNSyntax (direct bind with an odd name)
  48, // inappropriateAuthentication
  49, // invalidCredentials
  50, // insufficientAccessRights
  53, // unwillingToPerform (account disabled on some servers)
]);

/** Attribute values of an ldapts entry, looked up case-insensitively, as strings, at most `max`. */
export function attributeValues(entry: Entry, attribute: string, max: number): { values: string[]; truncated: boolean } {
  const want = attribute.toLowerCase();
  for (const [key, raw] of Object.entries(entry)) {
    if (key === 'dn' || key.toLowerCase() !== want) continue;
    const list = Array.isArray(raw) ? raw : [raw];
    const values = list.slice(0, max).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
    return { values, truncated: list.length > max };
  }
  return { values: [], truncated: false };
}

/** Outcome of the directory steps of one login, before group mapping. */
type Lookup =
  | { kind: 'ok'; dn: string; canonical: string | undefined; directoryGroups: string[]; warning?: string }
  | { kind: 'refused'; why: string }
  | { kind: 'expired'; dn: string; why: string; reset: boolean };

export class LdapMethod implements PasswordMethod {
  readonly name: string;
  private readonly o: ResolvedLdapOptions;
  private inFlight = 0;

  /** Throws LdapConfigError on a bad option (see options.ts). Reads caFile now. */
  constructor(options: LdapMethodOptions) {
    this.o = resolveLdapOptions(options);
    this.name = this.o.name;
    // ldapts parses string filters itself: a template it cannot parse is a configuration error now,
    // not a failed login later.
    for (const [what, template, vars] of [
      ['user-filter', this.o.userFilter, { user: 'probe' }],
      ['group-filter', this.o.groupFilter, { dn: 'cn=probe', user: 'probe' }],
    ] as const) {
      try {
        FilterParser.parseString(fillFilter(template, vars));
      } catch (err) {
        throw new LdapConfigError(this.name, `${what} ${JSON.stringify(template)}: ${(err as Error).message}`);
      }
    }
  }

  async authenticate(user: string, password: string, _ctx: LoginContext): Promise<MethodResult> {
    const who = printableUserName(user);
    if (user.length === 0 || user.length > LDAP_LIMITS.maxUserLength || /[\0-\x1f\x7f]/.test(user) || user.trim() !== user) {
      this.log('info', { user: who }, 'LDAP login refused: user name not usable in a directory search');
      return { kind: 'reject' };
    }
    if (password.length === 0) {
      // Never send it: a DN with an empty password is an unauthenticated bind, "success" on many servers.
      this.log('info', { user: who }, 'LDAP login refused: empty password');
      return { kind: 'reject' };
    }
    if (Buffer.byteLength(password, 'utf8') > LDAP_LIMITS.maxPasswordBytes) {
      this.log('info', { user: who }, 'LDAP login refused: password too long');
      return { kind: 'reject' };
    }
    if (this.inFlight >= this.o.maxConcurrent) {
      this.log('warn', { user: who, inFlight: this.inFlight }, 'LDAP login refused: too many logins in flight against this server');
      return { kind: 'error', message: `The directory ${this.name} is busy; try again.` };
    }

    this.inFlight++;
    let lookup: Lookup;
    try {
      lookup = await LdapConnection.run(this.o, (conn) => this.lookup(conn, user, password));
    } catch (err) {
      const why = err instanceof LdapTimeoutError ? err.message : describeError(err);
      this.log('warn', { user: who, error: why }, 'LDAP server failed; login refused');
      return { kind: 'error', message: `The directory ${this.name} did not answer; try again later.` };
    } finally {
      this.inFlight--;
    }

    if (lookup.kind === 'refused') {
      this.log('info', { user: who, reason: lookup.why }, 'LDAP login refused');
      return { kind: 'reject' };
    }
    if (lookup.kind === 'expired') {
      this.log('info', { user: who, dn: lookup.dn, reason: lookup.why }, 'LDAP password expired');
      return {
        kind: 'expired',
        canChange: false,
        message: lookup.reset
          ? 'Your directory password was reset and must be changed. Change it with your organisation\'s password tool, then log in again.'
          : 'Your directory password has expired. Change it with your organisation\'s password tool, then log in again.',
      };
    }
    const { groups, ignored } = this.o.groupMap.map(lookup.directoryGroups);
    if (ignored > 0) this.log('warn', { user: who, ignored }, 'LDAP group values that are not DNs were ignored');
    this.log('info', { user: who, dn: lookup.dn, groups: groups ?? 'unrestricted', directoryGroups: lookup.directoryGroups.length }, 'LDAP login accepted');
    return {
      kind: 'accept',
      ...(lookup.canonical !== undefined ? { user: lookup.canonical } : {}),
      ...(groups !== undefined ? { groups } : {}),
      ...(lookup.warning !== undefined ? { message: lookup.warning } : {}),
    };
  }

  /** The directory steps: find the user, check the password, collect the group DNs. */
  private async lookup(conn: LdapConnection, user: string, password: string): Promise<Lookup> {
    const c = conn.client;
    const o = this.o;
    const attributes = [o.groupAttribute, o.userAttribute];
    let dn: string;
    let entry: Entry | undefined;

    if (o.bindDn !== undefined) {
      try {
        await c.bind(o.bindDn, o.bindPassword);
      } catch (err) {
        // The search account is ours, not the user's: a refusal here is a server/config fault.
        throw new Error(`bind as the search account ${o.bindDn} failed: ${describeError(err)}`);
      }
      const found = await c.search(o.base, {
        scope: 'sub',
        filter: fillFilter(o.userFilter, { user }),
        attributes,
        sizeLimit: 2, // one is the answer, two says "ambiguous"
        timeLimit: Math.ceil(o.timeoutMs / 1000),
        derefAliases: 'never',
      });
      if (found.searchEntries.length === 0) return { kind: 'refused', why: 'no such user' };
      if (found.searchEntries.length > 1) return { kind: 'refused', why: 'user filter matches several entries' };
      entry = found.searchEntries[0] as Entry;
      dn = entry.dn;
    } else {
      dn = fillDnTemplate(o.userDnTemplate as string, user);
    }

    const verdict = await this.bindUser(conn, dn, password);
    if (verdict.kind === 'invalid') return { kind: 'refused', why: 'wrong password' };
    if (verdict.kind === 'locked') return { kind: 'refused', why: 'account locked' };
    if (verdict.kind === 'expired') return { kind: 'expired', dn, why: verdict.why, reset: verdict.reset };

    if (entry === undefined) {
      // Direct bind: read the own entry, as the user.
      const own = await c.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes, sizeLimit: 1, derefAliases: 'never' });
      entry = own.searchEntries[0];
    }
    const groupValues = entry ? attributeValues(entry, o.groupAttribute, LDAP_LIMITS.maxGroups) : { values: [], truncated: false };
    const directoryGroups = groupValues.values;
    let truncated = groupValues.truncated;

    if (o.groupBase !== undefined) {
      // Search the groups as the search account when there is one (a user may not read groups).
      if (o.bindDn !== undefined) await c.bind(o.bindDn, o.bindPassword);
      const groups = await c.search(o.groupBase, {
        scope: 'sub',
        filter: fillFilter(o.groupFilter, { dn, user }),
        attributes: ['1.1'], // the DNs are all we need
        sizeLimit: LDAP_LIMITS.maxGroups,
        timeLimit: Math.ceil(o.timeoutMs / 1000),
        derefAliases: 'never',
      });
      for (const g of groups.searchEntries) {
        if (directoryGroups.length >= LDAP_LIMITS.maxGroups) {
          truncated = true;
          break;
        }
        directoryGroups.push(g.dn);
      }
      if (groups.searchEntries.length >= LDAP_LIMITS.maxGroups) truncated = true;
    }
    if (truncated) this.log('warn', { dn, max: LDAP_LIMITS.maxGroups }, 'LDAP user has more groups than read; the rest were ignored');

    const canonical = entry ? attributeValues(entry, o.userAttribute, 2).values : [];
    return {
      kind: 'ok',
      dn,
      // The directory's spelling of the name ("Alice" typed, "alice" stored), when it has exactly one.
      canonical: canonical.length === 1 && isCanonicalName(canonical[0] as string, user) ? canonical[0] : undefined,
      directoryGroups,
      ...(verdict.warning !== undefined ? { warning: verdict.warning } : {}),
    };
  }

  /** Binds as the user with the Password Policy control; what the answer means. */
  private async bindUser(conn: LdapConnection, dn: string, password: string): Promise<BindVerdict> {
    const ppolicy = new PasswordPolicyControl();
    try {
      await conn.client.bind(dn, password, ppolicy);
    } catch (err) {
      if (ppolicy.parseError) this.log('warn', { dn, error: ppolicy.parseError }, 'LDAP password policy control unreadable; ignored');
      if (err instanceof ResultCodeError && REFUSED_CODES.has(err.code)) return verdictOfFailure(err.code, err.message, ppolicy.response);
      throw err;
    }
    if (ppolicy.parseError) this.log('warn', { dn, error: ppolicy.parseError }, 'LDAP password policy control unreadable; ignored');
    return verdictOfSuccess(ppolicy.response);
  }

  private log(level: 'info' | 'warn', obj: Record<string, unknown>, msg: string): void {
    this.o.log?.[level]({ server: this.name, ...obj }, msg);
  }
}

/**
 * The directory's value is used as the session's user name only when it is the typed name up to
 * case (a user-filter on mail or an alias must not turn "bob" into someone else's name in logs).
 */
function isCanonicalName(value: string, typed: string): boolean {
  return value.toLowerCase() === typed.toLowerCase() && !/[\0-\x1f\x7f]/.test(value);
}

/** An error as one log-safe line (ldapts messages carry DNs and result texts, never passwords). */
function describeError(err: unknown): string {
  if (err instanceof ResultCodeError) return `${err.name} (${err.code}): ${err.message}`.slice(0, 300);
  if (err instanceof Error) return `${err.message}${'code' in err && err.code ? ` (${String(err.code)})` : ''}`.replace(/\s+/g, ' ').slice(0, 300);
  return String(err).slice(0, 300);
}
