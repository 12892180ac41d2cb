/**
 * `sslgate connect`: the whole client flow, in the order of the seed ([SEED] §1-§5):
 *   1. TLS + trust          tls-connect.ts, trust.ts, preferences.ts
 *   2-3. group, login       auth-flow.ts, forms.ts, prompts.ts
 *   4. downloader           profile-downloader.ts
 *   5-6. tunnel, staying up session.ts (cstp-connect.ts, host-config.ts / vpnc-script)
 * and the exits: --authenticate / --cookieonly stop after step 3; --cookie-on-stdin skips 2-4.
 *
 * Returns the process exit code; expected failures are thrown as ClientError (errors.ts).
 *
 * Connect latency: the first TCP+TLS handshake starts before the rest of the client (XML, forms,
 * tunnel) is even loaded, so module loading overlaps the network round trips.
 */
import { VERSION } from '../version.js';
import type { AuthResult } from './auth-flow.js';
import { ClientError } from './errors.js';
import { takeDeferredExtraCaFile } from './deferred-extra-ca.js';
import { FormEntries, type FormEntry } from './form-entries.js';
import { parseGatewayUrl } from './gateway-url.js';
import type { Preferences } from './preferences.js';
import { Progress } from './progress.js';
import type { TunnelSession } from './session.js';
import { TlsConnector, type TrustedSocket } from './tls-connect.js';
import { DEFAULT_USER_AGENT } from './user-agent.js';


export interface ConnectOptions {
  url: string;
  user?: string;
  passwdOnStdin: boolean;
  /** --token-mode (only 'totp' is supported) */
  tokenMode?: string;
  /** --token-secret: a secret, @FILE or /FILE */
  tokenSecret?: string;
  /** -F / --form-entry, already checked */
  formEntries?: FormEntry[];
  authgroup?: string;
  servercert: string[];
  cafile?: string;
  noSystemTrust: boolean;
  certificate?: string;
  sslkey?: string;
  script?: string;
  interfaceName?: string;
  nonInter: boolean;
  /** --authenticate / --cookieonly stop after login */
  mode: 'connect' | 'authenticate' | 'cookieonly';
  cookieOnStdin: boolean;
  userAgent?: string;
  reconnectTimeoutS: number;
  verbosity: number;
  dumpHttp: boolean;
  prefsDir?: string;
  ipv6: boolean;
  baseMtu?: number;
  connectTimeoutS: number;
  /** false: --no-dtls */
  dtls: boolean;
  dtlsCiphers?: string;
  dtls12Ciphers?: string;
}

/** Single-quoted for a POSIX shell (`eval "$(sslgate connect --authenticate ...)"`). */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function runConnect(o: ConnectOptions): Promise<number> {
  const progress = new Progress({ verbosity: o.verbosity, dumpHttp: o.dumpHttp });
  if (o.dtls && (o.dtlsCiphers !== undefined || o.dtls12Ciphers !== undefined)) {
    // A name src/dtls cannot run must never reach the gateway (it might pick it): refuse it now.
    const { parseCipherList } = await import('./dtls-offer.js');
    try {
      if (o.dtlsCiphers !== undefined) parseCipherList('X-DTLS-CipherSuite', o.dtlsCiphers, '--dtls-ciphers');
      if (o.dtls12Ciphers !== undefined) parseCipherList('X-DTLS12-CipherSuite', o.dtls12Ciphers, '--dtls12-ciphers');
    } catch (e) {
      throw new ClientError((e as Error).message);
    }
  }
  if (o.tokenSecret !== undefined && o.tokenMode === undefined) throw new ClientError('--token-secret needs --token-mode=totp');
  // Before any traffic: a bad secret must not cost a login attempt.
  const token = o.tokenMode !== undefined ? (await import('./token-option.js')).loadTokenSource(o.tokenMode, o.tokenSecret, progress) : undefined;
  const userAgent = o.userAgent ?? DEFAULT_USER_AGENT;
  const url = parseGatewayUrl(o.url);
  // preferences.xml is read while the first handshake runs (the trust check needs it after).
  const prefsModule = import('./preferences.js');
  const prefsReady = prefsModule.then((m) => {
    const dir = m.preferencesDir(o.prefsDir);
    return { m, dir, prefs: m.loadPreferences(dir, (msg) => progress.warn(msg)) as Preferences };
  });
  const extraCaFile = takeDeferredExtraCaFile();
  const connector = new TlsConnector(
    {
      ...(o.cafile !== undefined ? { caFile: o.cafile } : {}),
      noSystemTrust: o.noSystemTrust,
      ...(extraCaFile !== undefined ? { extraCaFile } : {}),
      ...(o.certificate !== undefined ? { certFile: o.certificate } : {}),
      ...(o.sslkey !== undefined ? { keyFile: o.sslkey } : {}),
      pins: o.servercert,
      connectTimeoutMs: o.connectTimeoutS * 1000,
    },
    async (host, port) => {
      const { m, prefs } = await prefsReady;
      return m.knownServer(prefs, host, port);
    },
  );
  progress.step(`Connecting to ${url.hostHeader}${url.path !== '/' ? url.path : ''} (sslgate ${VERSION})`);
  let first: Promise<TrustedSocket> | undefined;
  if (!o.cookieOnStdin) {
    first = connector.connect(url);
    first.catch(() => undefined); // awaited (and reported) by the login; not unhandled meanwhile
  }
  const [{ authenticate }, { FormFiller }, { createPrompter, InterruptedError }, { syncProfile }, { TunnelSession }, { m: prefsM, dir, prefs }] =
    await Promise.all([
      import('./auth-flow.js'),
      import('./forms.js'),
      import('./prompts.js'),
      import('./profile-downloader.js'),
      import('./session.js'),
      prefsReady,
    ]);
  const prompter = createPrompter({ nonInteractive: o.nonInter || o.passwdOnStdin || o.cookieOnStdin });

  // Signals: before the tunnel exists there is nothing to undo; afterwards the session sends
  // DISCONNECT, undoes the host configuration and exits 0.
  let session: TunnelSession | null = null;
  let signalled = false;
  let starting = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    progress.step(`Received ${sig}; disconnecting`);
    if (session) void session.stop();
    else if (!starting) {
      prompter.close();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let auth: AuthResult | undefined;
  let cookie: string;
  try {
    if (o.cookieOnStdin) {
      const line = (await prompter.stdinLine())?.trim();
      if (!line) throw new ClientError('--cookie-on-stdin: no cookie on stdin');
      cookie = line.replace(/^webvpn=/, '');
    } else {
      const filler = new FormFiller(
        {
          ...(o.user !== undefined ? { user: o.user } : {}),
          passwordOnStdin: o.passwdOnStdin,
          prompter,
          ...(o.formEntries?.length ? { formEntries: new FormEntries(o.formEntries) } : {}),
          ...(token ? { token } : {}),
        },
        progress,
      );
      auth = await authenticate({
        url,
        connector,
        userAgent,
        identity: { version: `v${VERSION}`, deviceId: 'linux-64' },
        ...(o.authgroup !== undefined ? { authgroup: o.authgroup } : {}),
        filler,
        progress,
        ...(first ? { first } : {}),
      });
      cookie = auth.cookie;
      progress.step(`Logged in${auth.user ? ` as ${auth.user}` : ''}${auth.group ? ` (group ${auth.group})` : ''}${auth.sessionId ? `, session ${auth.sessionId}` : ''}`);
      if (auth.banner) progress.notice(auth.banner);
      prefsM.rememberServer(prefs, { host: auth.url.host, port: auth.url.port, sha1: auth.tls.decision.sha1, pin: auth.tls.decision.pin, lastSeen: new Date().toISOString() });
      if (auth.user) prefs.defaultUser = auth.user;
      prefs.defaultHostName = auth.url.host;
      if (auth.group) prefs.defaultGroup = auth.group;
    }
  } catch (e) {
    if (e instanceof InterruptedError) throw new ClientError('interrupted', 130);
    throw e;
  } finally {
    prompter.close();
  }

  // Written once the tunnel is up (or the run ends), off the connect path.
  let saved = !auth;
  const savePrefs = (): void => {
    if (saved) return;
    saved = true;
    try {
      prefsM.savePreferences(dir, prefs);
    } catch (e) {
      progress.warn(`cannot save preferences in ${dir}: ${(e as Error).message}`);
    }
  };

  if (o.mode === 'cookieonly' || o.mode === 'authenticate') {
    savePrefs();
    auth?.conn?.close();
    if (o.mode === 'cookieonly') {
      process.stdout.write(`${cookie}\n`);
    } else {
      const target = auth?.url ?? url;
      process.stdout.write(
        `COOKIE=${shq(cookie)}\nHOST=${shq(target.host)}\nCONNECT_URL=${shq(`https://${target.hostHeader}${target.path}`)}\n` +
          (auth ? `FINGERPRINT=${shq(auth.tls.decision.pin)}\nRESOLVE=${shq(`${target.host}:${auth.tls.remoteAddress}`)}\n` : ''),
      );
    }
    return 0;
  }

  const target = auth?.url ?? url;
  const s = new TunnelSession({
    url: target,
    connector,
    userAgent,
    cookie,
    progress,
    reconnectTimeoutS: o.reconnectTimeoutS,
    ipv6: o.ipv6,
    ...(o.script !== undefined ? { script: o.script } : {}),
    ...(o.interfaceName !== undefined ? { interfaceName: o.interfaceName } : {}),
    ...(auth?.sessionToken !== undefined ? { sessionToken: auth.sessionToken } : {}),
    ...(o.baseMtu !== undefined ? { baseMtu: o.baseMtu } : {}),
    dtls: o.dtls
      ? { ...(o.dtlsCiphers !== undefined ? { dtlsCiphers: o.dtlsCiphers } : {}), ...(o.dtls12Ciphers !== undefined ? { dtls12Ciphers: o.dtls12Ciphers } : {}) }
      : null,
  });
  try {
    if (auth?.profile) {
      await syncProfile({ profile: auth.profile, dir, url: target, connector, userAgent, jar: auth.jar, progress });
    }
    starting = true;
    await s.start(auth?.conn ?? null);
    session = s;
    progress.info(`connected in ${progress.elapsed()} ms`);
  } finally {
    savePrefs();
  }
  if (signalled) void s.stop();
  const end = await s.done;
  if (end.exitCode === 0) {
    if (end.message) progress.step(end.message);
    return 0;
  }
  throw new ClientError(end.message ?? 'the session ended', end.exitCode);
}
