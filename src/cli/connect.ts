/**
 * `sslgate connect URL`: the client, in the foreground. Option names and short forms are
 * openconnect's, so habits and scripts carry over (openconnect(8)).
 */
import { Command, Option } from 'commander';
import type { ConnectOptions } from '../client/run.js';
import { FormEntries, FormEntryError, parseFormEntry, type FormEntry } from '../client/form-entries.js';
import { DEFAULT_USER_AGENT } from '../client/user-agent.js';
import { CliError } from './errors.js';

interface RawOptions {
  user?: string;
  passwdOnStdin?: boolean;
  tokenMode?: string;
  tokenSecret?: string;
  formEntry: string[];
  authgroup?: string;
  servercert: string[];
  cafile?: string;
  systemTrust: boolean;
  certificate?: string;
  sslkey?: string;
  script?: string;
  interface?: string;
  nonInter?: boolean;
  authenticate?: boolean;
  cookieonly?: boolean;
  cookieOnStdin?: boolean;
  useragent?: string;
  reconnectTimeout: string;
  verbose: number;
  quiet?: boolean;
  dumpHttpTraffic?: boolean;
  prefsDir?: string;
  disableIpv6?: boolean;
  baseMtu?: string;
  timeout: string;
  dtls: boolean;
  dtlsCiphers?: string;
  dtls12Ciphers?: string;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${name} must be a whole number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

/** -F values, checked now so a typo fails before any traffic (openconnect exits at once too). */
function formEntries(args: string[]): FormEntry[] {
  try {
    const entries = args.map(parseFormEntry);
    new FormEntries(entries); // the count limit
    return entries;
  } catch (e) {
    if (e instanceof FormEntryError) throw new CliError(e.message);
    throw e;
  }
}

function toOptions(url: string, r: RawOptions): ConnectOptions {
  if (r.authenticate && r.cookieonly) throw new CliError('--authenticate and --cookieonly are exclusive');
  if (r.cookieOnStdin && (r.authenticate || r.cookieonly)) throw new CliError('--cookie-on-stdin skips the login; it cannot be combined with --authenticate/--cookieonly');
  if (r.cookieOnStdin && r.passwdOnStdin) throw new CliError('--cookie-on-stdin and --passwd-on-stdin both read stdin');
  const o: ConnectOptions = {
    url,
    passwdOnStdin: r.passwdOnStdin === true,
    servercert: r.servercert,
    noSystemTrust: !r.systemTrust,
    nonInter: r.nonInter === true,
    mode: r.authenticate ? 'authenticate' : r.cookieonly ? 'cookieonly' : 'connect',
    cookieOnStdin: r.cookieOnStdin === true,
    reconnectTimeoutS: positiveInt('--reconnect-timeout', r.reconnectTimeout),
    verbosity: r.quiet ? -1 : r.verbose,
    dumpHttp: r.dumpHttpTraffic === true,
    ipv6: r.disableIpv6 !== true,
    connectTimeoutS: Math.max(1, positiveInt('--timeout', r.timeout)),
    dtls: r.dtls,
  };
  if (r.user !== undefined) o.user = r.user;
  // (checked, and an @FILE read, by runConnect before any network traffic)
  if (r.tokenMode !== undefined) o.tokenMode = r.tokenMode;
  if (r.tokenSecret !== undefined) o.tokenSecret = r.tokenSecret;
  if (r.formEntry.length > 0) o.formEntries = formEntries(r.formEntry);
  if (r.authgroup !== undefined) o.authgroup = r.authgroup;
  if (r.cafile !== undefined) o.cafile = r.cafile;
  if (r.certificate !== undefined) o.certificate = r.certificate;
  if (r.sslkey !== undefined) o.sslkey = r.sslkey;
  if (r.script !== undefined) o.script = r.script;
  if (r.interface !== undefined) o.interfaceName = r.interface;
  if (r.useragent !== undefined) o.userAgent = r.useragent;
  if (r.prefsDir !== undefined) o.prefsDir = r.prefsDir;
  // (checked against the names src/dtls runs in runConnect, before any network traffic)
  if (r.dtlsCiphers !== undefined) o.dtlsCiphers = r.dtlsCiphers;
  if (r.dtls12Ciphers !== undefined) o.dtls12Ciphers = r.dtls12Ciphers;
  if (r.baseMtu !== undefined) {
    const m = Number(r.baseMtu);
    if (!Number.isInteger(m) || m < 576 || m > 65535) throw new CliError(`--base-mtu must be 576..65535, got ${r.baseMtu}`);
    o.baseMtu = m;
  }
  return o;
}

/** Expected failures, by error name (matched by name so the client loads only when used). */
const EXPECTED: Record<string, number> = {
  UntrustedServerError: 3,
  MissingInputError: 2,
  TlsConnectError: 1,
  GatewayUrlError: 1,
  // TUN, ip(8) and vpnc-script failures are environment problems a person can fix: no stack.
  TunError: 1,
  IpError: 1,
  VpncScriptError: 1,
};

/** Expected failures become CliError (no stack trace); the multi-line trust warning stays whole. */
function asCliError(e: unknown): unknown {
  const err = e as { name?: string; message?: string; exitCode?: unknown } | null;
  if (!err || typeof err !== 'object') return e;
  // ClientError and its subclasses carry their exit code.
  if (typeof err.exitCode === 'number' && /Error$/.test(err.name ?? '')) return new CliError(err.message ?? String(e), err.exitCode);
  // A handshake refused for want of a client certificate is a login failure (exit 2).
  if (err.name === 'TlsConnectError' && (e as { code?: unknown }).code === 'CERT_REQUIRED') return new CliError(err.message ?? String(e), 2);
  const code = EXPECTED[err.name ?? ''];
  return code !== undefined ? new CliError(err.message ?? String(e), code) : e;
}

export function register(program: Command): void {
  program
    .command('connect')
    .description('connect to an AnyConnect-compatible gateway (client; openconnect-compatible options)')
    .argument('<url>', 'gateway, e.g. https://vpn.example.com[:port][/group-path]')
    .option('-u, --user <name>', 'user name for the login form')
    .option('--passwd-on-stdin', 'read passwords from stdin: one line per password prompt, in order (e.g. the password, then an OTP code or a new password)')
    .option('--token-mode <mode>', 'generate one-time codes: totp (RFC 6238). Filled in, as openconnect does, for a password field named secondary_password or any password field of a form with auth id "challenge"')
    .option('--token-secret <secret>', 'the TOTP secret: base32:SECRET, 0xHEX, [sha256:|sha512:] before either, or @FILE holding one')
    .option('-F, --form-entry <authid:name=value>', 'answer the field NAME of the form AUTHID with VALUE without asking, e.g. -F main:username=alice (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--authgroup <group>', 'group (connection profile) to choose from the gateway\'s list; value or label')
    .option('--servercert <pin>', 'accept only a server certificate with this key/hash: pin-sha256:…, sha256:…, sha1:… or a SHA-1 hex of the certificate (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--cafile <file>', 'extra CA certificates (PEM) to verify the gateway with')
    .option('--no-system-trust', 'do not trust the system CA store (only --cafile / --servercert)')
    .option('-c, --certificate <file>', 'client certificate (PEM, or PKCS#12)')
    .option('-k, --sslkey <file>', 'client certificate private key (PEM; default: in the certificate file)')
    .option('-s, --script <command>', 'vpnc-compatible script to configure the host (e.g. /usr/share/vpnc-scripts/vpnc-script); without it sslgate sets address, MTU and routes itself')
    .option('-i, --interface <name>', 'TUN interface name (default: kernel-chosen tunN)')
    .option('--non-inter', 'never prompt; fail if the gateway asks for something not given')
    .option('--authenticate', 'log in, print COOKIE/HOST/CONNECT_URL/FINGERPRINT for a shell, and exit')
    .option('--cookieonly', 'log in, print the session cookie, and exit')
    .option('--cookie-on-stdin', 'read the session cookie from stdin and skip the login')
    .option('--useragent <string>', `HTTP User-Agent (default "${DEFAULT_USER_AGENT}")`)
    .option('--reconnect-timeout <seconds>', 'keep trying to reconnect for this long after the connection drops', '300')
    .option('-v, --verbose', 'more output, with timings (repeat for more)', (_v: string, prev: number) => prev + 1, 0)
    .option('-q, --quiet', 'only warnings and errors')
    .option('--dump-http-traffic', 'print the HTTP requests and responses of the login (passwords hidden)')
    .option('--prefs-dir <dir>', 'folder of preferences.xml and Profile/ (default $SSLGATE_PREFS_DIR or ~/.config/sslgate)')
    .option('--disable-ipv6', 'ask for IPv4 only')
    .addOption(new Option('--base-mtu <bytes>', 'link MTU to announce (default: the outgoing interface\'s)'))
    .option('--timeout <seconds>', 'TCP/TLS connect timeout', '20')
    .option('--no-dtls', 'do not offer DTLS: everything over TLS')
    .option('--dtls-ciphers <list>', 'offer only these X-DTLS-CipherSuite names, colon-separated, and no X-DTLS12-CipherSuite (e.g. PSK-NEGOTIATE, AES128-SHA, OC-DTLS1_2-AES256-GCM)')
    .option('--dtls12-ciphers <list>', 'offer only these X-DTLS12-CipherSuite names, colon-separated, and no X-DTLS-CipherSuite (e.g. AES256-GCM-SHA384)')
    .addHelpText(
      'after',
      '\nExit status: 0 after a clean disconnect (Ctrl-C/SIGTERM), 1 connection or tunnel failure,\n' +
        '2 login failed, 3 the gateway certificate was not trusted.',
    )
    .action(async (url: string, raw: RawOptions) => {
      let code: number;
      try {
        const opts = toOptions(url, raw);
        const { runConnect } = await import('../client/run.js');
        code = await runConnect(opts);
      } catch (e) {
        throw asCliError(e);
      }
      // The TUN poller and stdin may keep the loop alive: leave explicitly.
      process.exit(code);
    });
}
