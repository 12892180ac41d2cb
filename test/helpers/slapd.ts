/**
 * Runs Debian's slapd (OpenLDAP 2.5) as a test-owned foreground process, never the system
 * service: config (slapd.conf), mdb database, certificates and pid file in a temp dir, its own
 * port on 127.0.0.1 (or `host` inside a namespace), stopped by the test (and by the cleanup
 * registry if the test process dies).
 *
 * The directory (suffix dc=example,dc=org, rootdn cn=admin,dc=example,dc=org / admin):
 *   ou=people   users (uid=NAME) with userPassword, some with an expired password (ppolicy)
 *   ou=groups   groupOfNames cn=vpn-staff, cn=vpn-contractors (member: the users' DNs)
 *   ou=policies cn=default: the ppolicy overlay's default policy (pwdMaxAge one year,
 *               no grace logins, pwdMustChange)
 * Users and policies are loaded offline with slapadd (it may set pwdChangedTime, which is
 * NO-USER-MODIFICATION); the groups are added online with ldapadd once slapd answers, so that
 * the memberof overlay (when `memberOf` is on) writes memberOf on the users, as in production:
 * slapadd does not run overlays.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { execIn, hasCommand, registerCleanup, tempDir, type Ns, type NsProcess } from './netns.js';
import { makePki } from './ocserv.js';
import { prerequisite } from './prerequisites.js';

export const SUFFIX = 'dc=example,dc=org';
export const ADMIN_DN = `cn=admin,${SUFFIX}`;
export const ADMIN_PASSWORD = 'admin';
export const PEOPLE_DN = `ou=people,${SUFFIX}`;
export const GROUPS_DN = `ou=groups,${SUFFIX}`;

export const userDn = (uid: string): string => `uid=${uid},${PEOPLE_DN}`;
export const groupDn = (cn: string): string => `cn=${cn},${GROUPS_DN}`;

export interface DirectoryUser {
  uid: string;
  password: string;
  /** cn of the groups (under ou=groups) the user is a member of */
  groups?: string[];
  /** pwdChangedTime long ago: a bind with the right password fails with ppolicy passwordExpired */
  expired?: boolean;
  /** pwdReset TRUE: the bind succeeds with ppolicy changeAfterReset (must change the password) */
  mustChange?: boolean;
}

/** alice in vpn-staff, bob in vpn-contractors, carol in no group, old expired, fresh reset. */
export const DEFAULT_USERS: DirectoryUser[] = [
  { uid: 'alice', password: 'alice-pw', groups: ['vpn-staff'] },
  { uid: 'bob', password: 'bob-pw', groups: ['vpn-contractors'] },
  { uid: 'carol', password: 'carol-pw' },
  { uid: 'old', password: 'old-pw', groups: ['vpn-staff'], expired: true },
  { uid: 'fresh', password: 'fresh-pw', groups: ['vpn-staff'], mustChange: true },
];

export interface SlapdOptions {
  users?: DirectoryUser[];
  /** load the memberof overlay (default true); false: groups only as groupOfNames entries */
  memberOf?: boolean;
  /** also listen on ldaps:// and offer StartTLS, with a certificate from a fresh test CA */
  tls?: boolean;
  /** run inside this namespace (default: on the host) */
  ns?: Ns;
  /** address to listen on (default 127.0.0.1) */
  host?: string;
}

export interface Slapd {
  dir: string;
  host: string;
  port: number;
  url: string;
  /** with tls: ldaps:// URL, the CA that signed the server certificate (SAN IP:host) */
  ldapsUrl?: string;
  caFile?: string;
  users: DirectoryUser[];
  /** last lines slapd printed (for assertion messages) */
  tail(): string;
  stop(): Promise<void>;
}

/** Reason slapd tests cannot run here, or false (under CI=true a missing piece fails: prerequisites.ts). */
export function slapdSkipReason(): string | false {
  const missing = ['slapd', 'slapadd', 'ldapadd', 'ldapwhoami', 'openssl'].filter((c) => !hasCommand(c) && !fs.existsSync(`/usr/sbin/${c}`));
  const modules = ['back_mdb.la', 'memberof.la', 'ppolicy.la'].filter((m) => !fs.existsSync(path.join(MODULE_DIR, m)));
  const reason =
    missing.length > 0 ? `missing programs: ${missing.join(', ')} (Debian packages slapd, ldap-utils, openssl)` :
    modules.length > 0 ? `missing slapd modules in ${MODULE_DIR}: ${modules.join(', ')} (Debian package slapd)` : false;
  return prerequisite('slapd interop tests (slapd, ldap-utils)', reason);
}

const MODULE_DIR = '/usr/lib/ldap';
const SLAPD = fs.existsSync('/usr/sbin/slapd') ? '/usr/sbin/slapd' : 'slapd';
const SLAPADD = fs.existsSync('/usr/sbin/slapadd') ? '/usr/sbin/slapadd' : 'slapadd';

let instances = 0;

/** A port derived from the pid (unique per test process), the instance and the attempt. */
function portFor(attempt: number): number {
  const instance = instances++;
  return 20000 + ((process.pid % 2000) * 10 + instance * 2 + attempt * 4001) % 40000;
}

function conf(dir: string, o: { memberOf: boolean; tls: { ca: string; cert: string; key: string } | undefined }): string {
  const lines = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    `pidfile ${dir}/slapd.pid`,
    `argsfile ${dir}/slapd.args`,
    `modulepath ${MODULE_DIR}`,
    'moduleload back_mdb',
    ...(o.memberOf ? ['moduleload memberof'] : []),
    'moduleload ppolicy',
    ...(o.tls ? [`TLSCACertificateFile ${o.tls.ca}`, `TLSCertificateFile ${o.tls.cert}`, `TLSCertificateKeyFile ${o.tls.key}`] : []),
    // Anyone may read (the default ACL), the rootdn writes; users bind with userPassword.
    'database mdb',
    `suffix "${SUFFIX}"`,
    `rootdn "${ADMIN_DN}"`,
    `rootpw ${ADMIN_PASSWORD}`,
    `directory ${dir}/db`,
    'maxsize 16777216',
    ...(o.memberOf ? ['overlay memberof'] : []),
    'overlay ppolicy',
    `ppolicy_default "cn=default,ou=policies,${SUFFIX}"`,
  ];
  return lines.join('\n') + '\n';
}

function baseLdif(users: DirectoryUser[]): string {
  const entries = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
    `dn: ${PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=policies,${SUFFIX}\nobjectClass: organizationalUnit\nou: policies`,
    `dn: cn=default,ou=policies,${SUFFIX}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\n` +
      'pwdAttribute: userPassword\npwdMaxAge: 31536000\npwdGraceAuthnLimit: 0\npwdMustChange: TRUE',
  ];
  for (const u of users) {
    let e = `dn: ${userDn(u.uid)}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.uid}\nsn: ${u.uid}\nuserPassword: ${u.password}`;
    if (u.expired) e += '\npwdChangedTime: 20200101000000Z';
    if (u.mustChange) e += '\npwdReset: TRUE';
    entries.push(e);
  }
  return entries.join('\n\n') + '\n';
}

function groupsLdif(users: DirectoryUser[]): string {
  const members = new Map<string, string[]>();
  for (const u of users) for (const g of u.groups ?? []) members.set(g, [...(members.get(g) ?? []), userDn(u.uid)]);
  const entries = [`dn: ${GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups`];
  for (const [cn, dns] of members) {
    entries.push(`dn: ${groupDn(cn)}\nobjectClass: groupOfNames\ncn: ${cn}\n${dns.map((d) => `member: ${d}`).join('\n')}`);
  }
  return entries.join('\n\n') + '\n';
}

/** slapd on the host: a foreground process in its own group, killed by the cleanup registry too. */
class HostProcess {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private unregister: () => void;
  running = true;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`failed to spawn ${cmd}`);
    this.unregister = registerCleanup(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    for (const s of [this.child.stdout, this.child.stderr]) {
      if (s) createInterface({ input: s, crlfDelay: Infinity }).on('line', (l) => this.lines.push(l));
    }
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => this.lines.push(`spawn error: ${err.message}`));
      this.child.on('close', () => {
        this.running = false;
        this.unregister();
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const pid = this.child.pid as number;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

type Proc = { running: boolean; stop(): Promise<void>; text(): string };

function wrapNs(p: NsProcess): Proc {
  return {
    get running() {
      return p.running;
    },
    stop: async () => {
      await p.stop('SIGTERM', 5000);
    },
    text: () => p.tail(30),
  };
}

function wrapHost(p: HostProcess): Proc {
  return {
    get running() {
      return p.running;
    },
    stop: () => p.stop(),
    text: () => p.lines.slice(-30).join('\n'),
  };
}

/**
 * Starts slapd with the directory above; resolves once it answers a bind as the rootdn and the
 * groups are in. The caller stops it (t.after(() => slapd.stop())); a test process that dies
 * kills it through the cleanup registry.
 */
export async function startSlapd(opts: SlapdOptions = {}): Promise<Slapd> {
  const users = opts.users ?? DEFAULT_USERS;
  const memberOf = opts.memberOf ?? true;
  const tls = opts.tls ?? false;
  const host = opts.host ?? '127.0.0.1';
  const nsName = opts.ns?.name ?? null;
  const dir = tempDir('slapd');
  fs.mkdirSync(path.join(dir, 'db'));
  let tlsFiles: { ca: string; cert: string; key: string } | undefined;
  if (tls) {
    const pkiDir = path.join(dir, 'pki');
    fs.mkdirSync(pkiDir);
    const pki = await makePki(pkiDir, host, [], 'ec');
    tlsFiles = { ca: pki.caFile, cert: pki.serverCertFile, key: pki.serverKeyFile };
  }
  const caFile = tlsFiles?.ca;
  const confFile = path.join(dir, 'slapd.conf');
  fs.writeFileSync(confFile, conf(dir, { memberOf, tls: tlsFiles }));
  fs.writeFileSync(path.join(dir, 'base.ldif'), baseLdif(users));
  fs.writeFileSync(path.join(dir, 'groups.ldif'), groupsLdif(users));
  await execIn(null, SLAPADD, ['-q', '-f', confFile, '-l', path.join(dir, 'base.ldif')], { check: true, timeoutMs: 30_000 });

  for (let attempt = 0; attempt < 5; attempt++) {
    const port = portFor(attempt);
    const url = `ldap://${host}:${port}`;
    const ldapsUrl = tls ? `ldaps://${host}:${port + 1}` : undefined;
    const listen = [url + '/', ...(ldapsUrl ? [ldapsUrl + '/'] : [])].join(' ');
    // -d 0: stay in the foreground (no fork), log nothing but errors to stderr.
    const args = ['-d', '0', '-h', listen, '-f', confFile];
    const proc = opts.ns ? wrapNs(opts.ns.spawn(SLAPD, args, { label: `slapd:${port}` })) : wrapHost(new HostProcess(SLAPD, args));
    const ready = await waitReady(nsName, url, proc);
    if (ready === 'port-taken') continue;
    await execIn(nsName, 'ldapadd', ['-x', '-H', url, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD, '-f', path.join(dir, 'groups.ldif')], {
      check: true,
      timeoutMs: 15_000,
    });
    return {
      dir,
      host,
      port,
      url,
      ...(ldapsUrl ? { ldapsUrl } : {}),
      ...(caFile ? { caFile } : {}),
      users,
      tail: () => proc.text(),
      stop: () => proc.stop(),
    };
  }
  throw new Error('slapd: no free port after 5 attempts');
}

/** Polls with ldapwhoami until slapd answers (ready), or it exits (port taken / other failure). */
async function waitReady(nsName: string | null, url: string, proc: Proc): Promise<'ready' | 'port-taken'> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const r = await execIn(nsName, 'ldapwhoami', ['-x', '-H', url, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD], { timeoutMs: 5000 });
    if (r.code === 0) return 'ready';
    if (!proc.running) {
      if (/bind\(.*\) failed|Address already in use/i.test(proc.text())) return 'port-taken';
      throw new Error(`slapd exited before answering on ${url}:\n${proc.text()}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  await proc.stop();
  throw new Error(`slapd did not answer on ${url} within 20 s:\n${proc.text()}`);
}
