/**
 * Runs Debian's freeradius 3.2 as a test-owned foreground process (`freeradius -f -d DIR`), never
 * the system service: a minimal generated config in a temp dir (no EAP, no SQL: those need
 * certificates and databases and make the start slow), its own ports, the `users` file below, the
 * detail accounting log under DIR/radacct/<client address>/detail, and the log on stdout.
 *
 * Used by the gateway's RADIUS tests (127.0.0.1 on the host) and by the client's tests against
 * ocserv (inside a test namespace: `ns` and `address`); `writeRadcliConfig` writes the radcli
 * files that ocserv's `auth = "radius[config=...]"` reads.
 *
 * The users (RADIUS_USERS): an accepting user with Class "OU=Employees;Admins" (groups as ocserv
 * reads them), Framed-IP-Address, two Framed-Routes (both RFC 2865 §5.22 text forms), MS DNS,
 * Reply-Message, Session-Timeout, Acct-Interim-Interval; a rejected user with a Reply-Message; a
 * user answered with an Access-Challenge (unlang in the authorize section: freeradius 3 sends a
 * challenge when control:Response-Packet-Type is Access-Challenge and the section returns
 * `handled`), and a user whose password "expired" (a reject with that Reply-Message, as a
 * freeradius in front of a directory answers).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { registerCleanup, tempDir } from './netns.js';
import { seeded } from './seed.js';

export const RADIUS_SECRET = 'testing123';

/** The users of the default `users` file and what the server answers them. */
export const RADIUS_USERS = {
  accept: {
    user: 'alice',
    password: 'alice-pw',
    classText: 'OU=Employees;Admins',
    groups: ['Employees', 'Admins'],
    framedIp: '192.168.77.10',
    framedRoutes: ['10.1.0.0/16 0.0.0.0 1', '10.2.0.0 255.255.0.0'],
    routes: ['10.1.0.0/16', '10.2.0.0/16'],
    dns: ['10.0.0.53', '10.0.0.54'],
    message: 'Welcome alice',
    sessionTimeout: 3600,
    acctInterim: 60,
  },
  reject: { user: 'bob', password: 'bob-pw', message: 'Access denied for bob' },
  challenge: {
    user: 'carol',
    password: 'carol-pw',
    code: '424242',
    /** the State the server sends with the challenge (and checks in the answer) */
    stateHex: '6361726f6c2d6368616c6c656e6765',
    message: 'Enter the code sent to your phone',
    acceptMessage: 'Code accepted',
    classText: 'OU=Contractors',
    groups: ['Contractors'],
  },
  expired: { user: 'dave', password: 'dave-pw', message: 'Your password has expired' },
} as const;

export interface UsersFileOptions {
  /** Framed-IP-Address of the accepting user (default RADIUS_USERS.accept.framedIp); null: none */
  framedIp?: string | null;
  /** Acct-Interim-Interval of the accepting user (default RADIUS_USERS.accept.acctInterim); null: none */
  acctInterim?: number | null;
}

/** The `users` file (rlm_files "authorize") for RADIUS_USERS. */
export function defaultUsersFile(opts: UsersFileOptions = {}): string {
  const a = RADIUS_USERS.accept;
  const r = RADIUS_USERS.reject;
  const e = RADIUS_USERS.expired;
  const framedIp = opts.framedIp === undefined ? a.framedIp : opts.framedIp;
  const acctInterim = opts.acctInterim === undefined ? a.acctInterim : opts.acctInterim;
  const reply = [
    `Class := "${a.classText}"`,
    ...(framedIp !== null ? [`Framed-IP-Address := ${framedIp}`] : []),
    ...a.framedRoutes.map((fr) => `Framed-Route += "${fr}"`),
    `MS-Primary-DNS-Server := ${a.dns[0]}`,
    `MS-Secondary-DNS-Server := ${a.dns[1]}`,
    `Reply-Message := "${a.message}"`,
    `Session-Timeout := ${a.sessionTimeout}`,
    ...(acctInterim !== null ? [`Acct-Interim-Interval := ${acctInterim}`] : []),
  ];
  return [
    `${a.user} Cleartext-Password := "${a.password}"`,
    reply.map((l) => `\t${l}`).join(',\n'),
    '',
    // Auth-Type Reject refuses whatever the password; the Reply-Message goes with the reject.
    `${r.user} Auth-Type := Reject`,
    `\tReply-Message := "${r.message}"`,
    '',
    `${e.user} Auth-Type := Reject`,
    `\tReply-Message := "${e.message}"`,
    '',
  ].join('\n');
}

/** The authorize section: the challenge user in unlang, then the users file and PAP. */
function authorizeSection(codes: readonly string[]): string {
  const c = RADIUS_USERS.challenge;
  const codeMatch = codes.map((code) => `&User-Password == "${code}"`).join(' || ');
  return `
  authorize {
    if (&User-Name == "${c.user}") {
      if (!&State) {
        if (&User-Password == "${c.password}") {
          update reply {
            &Reply-Message := "${c.message}"
            &State := 0x${c.stateHex}
          }
          update control {
            &Response-Packet-Type := Access-Challenge
          }
          handled
        }
        else {
          reject
        }
      }
      elsif (&State == 0x${c.stateHex} && (${codeMatch})) {
        update reply {
          &Reply-Message := "${c.acceptMessage}"
          &Class := "${c.classText}"
        }
        update control {
          &Auth-Type := Accept
        }
        ok
      }
      else {
        reject
      }
    }
    else {
      files
      pap
    }
  }`;
}

export interface FreeradiusOptions {
  /** network namespace to run in (default: the host's) */
  ns?: string;
  /** address to listen on (default 127.0.0.1) */
  address?: string;
  secret?: string;
  /** networks allowed as RADIUS clients (NAS), CIDR (default 0.0.0.0/0: the secret decides) */
  clients?: string[];
  /** refuse Access-Requests without Message-Authenticator (default true; radcli does not send one) */
  requireMessageAuthenticator?: boolean;
  /** the whole `users` file (default defaultUsersFile()) */
  usersFile?: string;
  /** codes the challenge user may answer (default [RADIUS_USERS.challenge.code]; e.g. a TOTP window) */
  challengeCodes?: string[];
  /** ports (default: free ones derived from the pid) */
  authPort?: number;
  acctPort?: number;
}

export interface AccountingRecord {
  /** the detail file's header line (the time freeradius wrote the record) */
  header: string;
  /** attribute name -> values as freeradius prints them (strings unquoted) */
  attrs: Map<string, string[]>;
}

export interface Freeradius {
  dir: string;
  address: string;
  authPort: number;
  acctPort: number;
  secret: string;
  /** the server's output so far (log lines: logins, errors) */
  output(): string;
  /** every record of every detail file, oldest first */
  accountingRecords(): AccountingRecord[];
  stop(): Promise<void>;
}

let instances = 0;

/** Whether a UDP port is free on `address` (in this namespace; the caller's own namespace). */
function udpPortFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, address, () => s.close(() => resolve(true)));
  });
}

/** Two free consecutive ports from a pid-based start, so parallel test processes do not collide. */
async function pickPorts(address: string, ns: string | undefined): Promise<[number, number]> {
  let port = 21000 + ((process.pid * 7 + instances++ * 2) % 20000) * 2;
  for (let i = 0; i < 50; i++, port += 2) {
    // In a namespace nothing else listens: the pid-based ports are free there.
    if (ns !== undefined) return [port, port + 1];
    const bindAddr = address === '*' ? '0.0.0.0' : address;
    if ((await udpPortFree(bindAddr, port)) && (await udpPortFree(bindAddr, port + 1))) return [port, port + 1];
  }
  throw new Error('freeradius helper: no free pair of UDP ports');
}

function radiusdConf(dir: string, o: Required<Pick<FreeradiusOptions, 'address' | 'secret' | 'clients' | 'requireMessageAuthenticator' | 'challengeCodes'>> & { authPort: number; acctPort: number }): string {
  const clients = o.clients
    .map(
      (net, i) => `
client nas${i} {
  ipaddr = ${net}
  secret = ${o.secret}
  require_message_authenticator = ${o.requireMessageAuthenticator ? 'yes' : 'no'}
  nas_type = other
}`,
    )
    .join('\n');
  return `# generated by test/helpers/freeradius.ts
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
confdir = ${dir}
raddbdir = ${dir}
logdir = ${dir}/log
radacctdir = ${dir}/radacct
run_dir = ${dir}/run
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/run/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {
  destination = stdout
  colourise = no
  auth = yes
  auth_badpass = no
  auth_goodpass = no
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}
thread pool {
  start_servers = 1
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 2
  max_requests_per_server = 0
}
${clients}
modules {
  pap {
    normalise = yes
  }
  files {
    filename = ${dir}/users
  }
  detail {
    filename = \${radacctdir}/%{%{Packet-Src-IP-Address}:-%{Packet-Src-IPv6-Address}}/detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
  }
  always ok {
    rcode = ok
  }
  always reject {
    rcode = reject
  }
  always handled {
    rcode = handled
  }
}
server default {
  listen {
    type = auth
    ipaddr = ${o.address}
    port = ${o.authPort}
  }
  listen {
    type = acct
    ipaddr = ${o.address}
    port = ${o.acctPort}
  }
${authorizeSection(o.challengeCodes)}
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  preacct {
  }
  accounting {
    detail
    ok
  }
  post-auth {
    # A wrong password must not carry the user's accept items (the users file added them in
    # authorize): the reply keeps its Reply-Message only for users rejected on purpose
    # (Auth-Type Reject), as attr_filter.access_reject does in Debian's full config.
    Post-Auth-Type REJECT {
      if (&control:Auth-Type != Reject) {
        update {
          &reply: !* ANY
        }
      }
      ok
    }
  }
}
`;
}

/** Parses freeradius detail files: a header line, then "\tName = value" lines, records split by a blank line. */
export function parseDetail(text: string): AccountingRecord[] {
  const records: AccountingRecord[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const header = lines.shift();
    if (header === undefined) continue;
    const attrs = new Map<string, string[]>();
    for (const line of lines) {
      const m = /^\s+([A-Za-z0-9-]+) = (.*)$/.exec(line);
      if (!m) continue;
      const [, name, raw] = m as unknown as [string, string, string];
      const value = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
      attrs.set(name, [...(attrs.get(name) ?? []), value]);
    }
    records.push({ header, attrs });
  }
  return records;
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  });
}

/** Starts freeradius and resolves once it logged "Ready to process requests". */
export async function startFreeradius(opts: FreeradiusOptions = {}): Promise<Freeradius> {
  const address = opts.address ?? '127.0.0.1';
  const secret = opts.secret ?? RADIUS_SECRET;
  const [defAuth, defAcct] = opts.authPort !== undefined && opts.acctPort !== undefined ? [opts.authPort, opts.acctPort] : await pickPorts(address, opts.ns);
  const authPort = opts.authPort ?? defAuth;
  const acctPort = opts.acctPort ?? defAcct;
  const dir = tempDir('freeradius');
  for (const sub of ['log', 'radacct', 'run']) fs.mkdirSync(path.join(dir, sub));
  fs.writeFileSync(
    path.join(dir, 'radiusd.conf'),
    radiusdConf(dir, {
      address,
      secret,
      clients: opts.clients ?? ['0.0.0.0/0'],
      requireMessageAuthenticator: opts.requireMessageAuthenticator ?? true,
      challengeCodes: opts.challengeCodes ?? [RADIUS_USERS.challenge.code],
      authPort,
      acctPort,
    }),
  );
  fs.writeFileSync(path.join(dir, 'users'), opts.usersFile ?? defaultUsersFile());

  // -f: foreground; -l stdout: the log where the test reads it; setsid (detached) so that one
  // kill of the group stops it also when the test dies.
  const argv = ['-f', '-l', 'stdout', '-d', dir];
  const child: ChildProcess =
    opts.ns !== undefined
      ? spawn('ip', ['netns', 'exec', opts.ns, 'freeradius', ...argv], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('freeradius', argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('freeradius: spawn failed');
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  const unregister = registerCleanup(() => killGroup('SIGKILL'));
  const lines: string[] = [];
  let exited: string | null = null;
  const exitedP = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      exited = `exit ${code ?? signal}`;
      unregister();
      resolve();
    });
  });
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => {
      lines.push(l);
      if (process.env['SSLGATE_TEST_VERBOSE'] === '1') process.stderr.write(`[freeradius] ${l}\n`);
      for (const w of [...waiters]) w();
    });
  }
  child.on('close', () => {
    for (const w of [...waiters]) w();
  });

  const stop = async (): Promise<void> => {
    if (exited !== null) return;
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 5000);
    await exitedP;
    clearTimeout(timer);
  };

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`freeradius did not get ready in 20 s; output:\n${lines.slice(-40).join('\n')}`));
    }, 20_000);
    const check = (): void => {
      if (lines.some((l) => l.includes('Ready to process requests'))) {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      } else if (exited !== null) {
        clearTimeout(timer);
        waiters.delete(check);
        reject(new Error(`freeradius ${exited} before it was ready; output:\n${lines.slice(-40).join('\n')}`));
      }
    };
    waiters.add(check);
    check();
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  return {
    dir,
    address,
    authPort,
    acctPort,
    secret,
    output: () => lines.join('\n'),
    accountingRecords: () =>
      listFiles(path.join(dir, 'radacct'))
        .filter((f) => path.basename(f).startsWith('detail'))
        .sort()
        .flatMap((f) => parseDetail(fs.readFileSync(f, 'utf8'))),
    stop,
  };
}

export interface RadcliServer {
  /** address as ocserv reaches it */
  address: string;
  authPort: number;
  acctPort: number;
  secret: string;
}

/**
 * Writes radiusclient.conf, servers and dictionary for radcli (the RADIUS library of Debian's
 * ocserv) into `dir`; returns the radiusclient.conf path for `auth = "radius[config=PATH]"` and
 * `acct = "radius[config=PATH]"`. The dictionary adds Microsoft's (MS DNS servers), which
 * /etc/radcli/dictionary leaves commented out.
 */
export function writeRadcliConfig(dir: string, server: RadcliServer, opts: { timeout?: number; retries?: number; nasIdentifier?: string } = {}): string {
  const conf = path.join(dir, 'radiusclient.conf');
  const servers = path.join(dir, 'radius-servers');
  const dictionary = path.join(dir, 'radius-dictionary');
  fs.writeFileSync(dictionary, '$INCLUDE /etc/radcli/dictionary\n$INCLUDE /etc/radcli/dictionary.microsoft\n');
  // radcli matches the servers file by the host name as written in authserver/acctserver.
  fs.writeFileSync(servers, `${server.address}\t${server.secret}\n`, { mode: 0o600 });
  fs.writeFileSync(
    conf,
    [
      `authserver\t${server.address}:${server.authPort}`,
      `acctserver\t${server.address}:${server.acctPort}`,
      `servers\t${servers}`,
      `dictionary\t${dictionary}`,
      'default_realm',
      `radius_timeout\t${opts.timeout ?? 3}`,
      `radius_retries\t${opts.retries ?? 1}`,
      'bindaddr\t*',
      ...(opts.nasIdentifier !== undefined ? [`nas-identifier\t${opts.nasIdentifier}`] : []),
      '',
    ].join('\n'),
  );
  return conf;
}

/**
 * A TOTP secret (20 bytes from the logged seed `label`) and the codes a challenge should accept
 * around now (one 30 s step back to three ahead, so a test that takes a while still matches),
 * computed by Debian's oathtool — the reference the client's codes are checked against.
 */
export function oathtoolWindow(label: string): { hex: string; base32: string; codes: string[] } {
  const hex = seeded(label).bytes(20).toString('hex');
  const out = execFileSync('oathtool', ['--totp', '-v', '-w', '4', '-N', `@${Math.floor(Date.now() / 1000) - 30}`, hex], { encoding: 'utf8' });
  const base32 = /^Base32 secret: (\S+)$/m.exec(out)?.[1];
  const codes = out.split('\n').filter((l) => /^\d{6}$/.test(l));
  if (!base32 || codes.length !== 5) throw new Error(`unexpected oathtool output: ${out}`);
  return { hex, base32, codes };
}
