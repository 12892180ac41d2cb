/**
 * Step 1 of the flow ([SEED] §1): TCP + TLS to the gateway, then the trust decision of trust.ts
 * before anything is sent. Every connection of a session goes through here (auth, downloader,
 * CONNECT, reconnects), so each one is verified the same way and presents the client
 * certificate again (ocserv re-checks it on CONNECT unless cisco-client-compat, §3.2).
 *
 * Latency: TCP_NODELAY is set (each HTTP request is one write and must leave at once), and the
 * TLS session of the first connection is offered again on the later ones (resumption saves a
 * round trip and the server's signature on the downloader's and reconnects' handshakes).
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { probeCertificateRequest } from './cert-request-probe.js';
import { readExtraCaFile } from './deferred-extra-ca.js';
import type { GatewayUrl } from './gateway-url.js';
import { decideTrust, type TrustDecision } from './trust.js';
import type { ServerCertRecord } from './preferences.js';

export class TlsConnectError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'TlsConnectError';
  }
}

/** The gateway failed the trust check; nothing was sent. */
export class UntrustedServerError extends Error {
  constructor(readonly decision: Extract<TrustDecision, { ok: false }>) {
    super(decision.message);
    this.name = 'UntrustedServerError';
  }
}

export interface TlsSettings {
  /** --cafile contents (PEM) */
  caFile?: string;
  /** --no-system-trust */
  noSystemTrust: boolean;
  /** NODE_EXTRA_CA_CERTS that bin/sslgate kept from Node's start (deferred-extra-ca.ts) */
  extraCaFile?: string;
  /** --certificate (PEM or PKCS#12) */
  certFile?: string;
  /** --sslkey (PEM); defaults to the certificate file */
  keyFile?: string;
  /** --servercert values */
  pins: string[];
  connectTimeoutMs: number;
}

export interface TrustedSocket {
  socket: tls.TLSSocket;
  decision: Extract<TrustDecision, { ok: true }>;
  /** DER of the gateway certificate */
  der: Buffer;
  /** the gateway's IP address as connected (VPNGATEWAY) */
  remoteAddress: string;
  protocol: string;
  cipher: string;
  handshakeMs: number;
}

/** Node's verify codes, in words a user can act on. */
const VERIFY_TEXT: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'signer not found (unknown CA)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'signer not found (unknown CA)',
  UNABLE_TO_GET_ISSUER_CERT: 'issuer certificate not found',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not match the host name',
  CERT_REVOKED: 'certificate revoked',
};

export class TlsConnector {
  private readonly secure: Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx'>;
  /** TLS sessions of trusted connections, with the certificate that was verified for them */
  private readonly sessions = new Map<string, { session: Buffer; der: Buffer }>();
  /** by "host:port", after the first trusted handshake: later ones must show the same certificate */
  private readonly accepted = new Map<string, string>();

  constructor(
    readonly settings: TlsSettings,
    /** what preferences.xml remembers, by "host:port" */
    /** may be async: preferences.xml is read while the first handshake runs */
    private readonly known: (host: string, port: number) => ServerCertRecord | undefined | Promise<ServerCertRecord | undefined>,
  ) {
    this.secure = loadCredentials(settings);
  }

  get hasClientCert(): boolean {
    return this.secure.cert !== undefined || this.secure.pfx !== undefined;
  }

  /** Opens a verified connection; throws UntrustedServerError / TlsConnectError. */
  async connect(url: GatewayUrl): Promise<TrustedSocket> {
    const key = `${url.host}:${url.port}`;
    const t0 = Date.now();
    // Our own TCP socket so NODELAY is on before the handshake (TLS wraps its handle directly,
    // no JS stream in between).
    const raw = net.connect({ host: url.host, port: url.port, noDelay: true });
    const opts: tls.ConnectionOptions = {
      socket: raw,
      host: url.host,
      port: url.port,
      ...this.secure,
      // We decide trust ourselves (pins, preferences); Node still reports the CA and host-name
      // verdict in authorizationError.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    };
    if (url.servername) opts.servername = url.servername;
    // No resumption with a client certificate: a resumed handshake does not present it, and
    // ocserv (without cisco-client-compat) wants it on every connection (§3.2).
    const cached = this.hasClientCert ? undefined : this.sessions.get(key);
    if (cached) opts.session = cached.session;
    let trustedDer: Buffer | undefined;
    let pendingSession: Buffer | undefined;
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect(opts);
      const timer = setTimeout(() => {
        s.destroy();
        raw.destroy();
        reject(new TlsConnectError(`no answer from ${url.hostHeader} within ${this.settings.connectTimeoutMs / 1000} s`, 'ETIMEDOUT'));
      }, this.settings.connectTimeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeListener('error', onError);
        raw.removeListener('error', onError);
        resolve(s);
      });
      const onError = (e: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        s.destroy();
        raw.destroy();
        // Connected but the handshake failed, and we have no certificate: a gateway that
        // requires one resets or alerts here. Find out, to say so (and which CAs it takes).
        if (raw.bytesRead > 0 && !this.hasClientCert) void explainHandshakeFailure(e, url).then(reject);
        else reject(describeConnectError(e, url));
      };
      s.once('error', onError);
      raw.once('error', onError);
      // Kept only for connections that passed the trust check (TLS 1.3 tickets come after it).
      s.on('session', (buf: Buffer) => {
        if (trustedDer) this.sessions.set(key, { session: buf, der: trustedDer });
        else pendingSession = buf;
      });
    });
    socket.setNoDelay(true);
    // A resumed session shows no certificate: it is the one verified when the session was made
    // (only trusted connections' sessions are cached), and the checks below run on it again.
    const der = socket.getPeerX509Certificate()?.raw ?? (socket.isSessionReused() ? cached?.der : undefined);
    if (!der) {
      socket.destroy();
      throw new TlsConnectError(`${url.hostHeader} presented no certificate`);
    }
    const input: Parameters<typeof decideTrust>[0] = { host: url.host, port: url.port, der, pins: this.settings.pins };
    if (!socket.authorized) {
      const code = String(socket.authorizationError ?? 'unknown error');
      input.verifyError = VERIFY_TEXT[code] ? `${VERIFY_TEXT[code]}, ${code}` : code;
    }
    const known = await this.known(url.host, url.port);
    if (known) input.known = known;
    const decision = decideTrust(input);
    if (!decision.ok) {
      socket.destroy();
      throw new UntrustedServerError(decision);
    }
    // Within one run the gateway must keep its certificate (a reconnect to another one is
    // refused like a changed certificate, unless it is pinned).
    const acceptedSha1 = this.accepted.get(key);
    if (acceptedSha1 && acceptedSha1 !== decision.sha1 && decision.how !== 'pinned') {
      socket.destroy();
      throw new UntrustedServerError({
        ok: false,
        reason: 'changed',
        sha1: decision.sha1,
        pin: decision.pin,
        message: `the certificate of ${url.hostHeader} changed during the session (was SHA-1 ${acceptedSha1}, now ${decision.sha1}); refusing`,
      });
    }
    this.accepted.set(key, decision.sha1);
    trustedDer = der;
    if (pendingSession) this.sessions.set(key, { session: pendingSession, der });
    const cipher = socket.getCipher();
    return {
      socket,
      decision,
      der,
      remoteAddress: socket.remoteAddress ?? url.host,
      protocol: socket.getProtocol() ?? '?',
      cipher: cipher.standardName ?? cipher.name,
      handshakeMs: Date.now() - t0,
    };
  }
}

function readFile(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TlsConnectError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** CA list and client credentials, read once. */
function loadCredentials(s: TlsSettings): Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx'> {
  const out: Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key' | 'pfx'> = {};
  // openconnect: --cafile adds to the system store; --no-system-trust drops the system store.
  // Node replaces its root store whenever `ca` is given, so the roots are added back explicitly.
  const extra = s.caFile ? [readFile('CA file', s.caFile).toString('utf8')] : [];
  // With --servercert the pin alone decides (trust.ts, as openconnect) and the CA verdict is never
  // read: then Node's root store is not loaded either. Building it parses ~140 certificates at
  // the first tls.connect, before the ClientHello goes out: measured (callgrind) as ~40% of the
  // instructions `sslgate connect` spends before its first byte.
  if (s.noSystemTrust || s.pins.length > 0) out.ca = extra;
  else {
    // The system store as Node would have built it from NODE_EXTRA_CA_CERTS at start: its
    // bundled roots plus that file (deferred-extra-ca.ts).
    const deferred = s.extraCaFile !== undefined ? readExtraCaFile(s.extraCaFile, (m) => process.emitWarning(m)) : undefined;
    if (deferred !== undefined) extra.unshift(deferred);
    if (extra.length) out.ca = [...tls.rootCertificates, ...extra];
  }
  if (s.certFile) {
    const cert = readFile('certificate', s.certFile);
    if (!cert.includes('-----BEGIN')) {
      out.pfx = cert; // PKCS#12 (DER), as openconnect accepts
    } else {
      out.cert = cert;
      const key = s.keyFile ? readFile('key', s.keyFile) : cert;
      if (!key.includes('PRIVATE KEY-----')) throw new TlsConnectError(`no private key in ${s.keyFile ?? s.certFile} (use --sslkey)`);
      if (key.includes('ENCRYPTED')) throw new TlsConnectError(`the key in ${s.keyFile ?? s.certFile} is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)`);
      out.key = key;
    }
  }
  return out;
}

async function explainHandshakeFailure(e: NodeJS.ErrnoException, url: GatewayUrl): Promise<TlsConnectError> {
  const info = await probeCertificateRequest(url);
  if (!info.requested) return describeConnectError(e, url);
  const cas = info.authorities.length ? `; it accepts certificates issued by: ${info.authorities.join(' | ')}` : '';
  return new TlsConnectError(`${url.hostHeader} requires a client certificate and none is configured (use --certificate/--sslkey)${cas}`, 'CERT_REQUIRED');
}

function describeConnectError(e: NodeJS.ErrnoException, url: GatewayUrl): TlsConnectError {
  const where = url.hostHeader;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new TlsConnectError(`${where} refused the connection (nothing listens on port ${url.port}?)`, e.code);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TlsConnectError(`cannot resolve ${url.host}`, e.code);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TlsConnectError(`no route to ${where}`, e.code);
    case 'ECONNRESET':
      return new TlsConnectError(`${where} reset the connection during the TLS handshake`, e.code);
    default: {
      const msg = e.message ?? String(e);
      // TLS alerts from the server: a required client certificate shows up here (TLS 1.3
      // alert 116 "certificate required"; TLS 1.2 servers send handshake_failure/bad_certificate).
      if (/alert number 116|CERTIFICATE_REQUIRED/i.test(msg)) return new TlsConnectError(`${where} requires a client certificate`, 'CERT_REQUIRED');
      return new TlsConnectError(`TLS with ${where} failed: ${msg}`, e.code);
    }
  }
}
