/**
 * One TLS connection before it becomes a tunnel: HTTP/1.1 requests of the auth exchange, the
 * profile download and the downloader stubs, then CONNECT (PROTOCOL.md §1.5 URL map). Requests are
 * answered in order, one at a time; every size is bounded by the parser; anything malformed gets
 * an error status and the connection is closed.
 *
 * While a request is in work the socket is paused and the parser holds at most the rest of one
 * chunk: a pipelined flood waits in the kernel (TCP flow control pushes back on the sender)
 * instead of in our memory, and after MAX_REQUESTS the connection closes. The time until CONNECT
 * is bounded by the auth deadline, armed at accept (unauth-connections.ts).
 */
import type { TLSSocket } from 'node:tls';
import { formatResponse, HttpError, HttpRequestParser, parseCookies, type HttpLimits, type HttpRequest } from '../protocol/http.js';
import { CONNECT_PATH } from '../protocol/connect-headers.js';
import { isProfileRequest } from '../protocol/profile.js';
import type { Logger } from '../log.js';
import { PLACED_COOKIE, type AuthHandler, type HttpReply, type RequestContext } from './auth-handler.js';
import { certVerdict } from './auth/client-cert.js';
import type { GatewayEvents } from './ops/events.js';
import type { SessionStore } from './sessions.js';
import { openTunnel, type TunnelDeps } from './tunnel-setup.js';

export interface ServedProfile {
  uri: string;
  sha1: string;
  content: Buffer;
}

export interface ConnectionDeps {
  auth: AuthHandler;
  tunnel: TunnelDeps;
  sessions: SessionStore;
  profile: () => ServedProfile | null;
  log: Logger;
  httpLimits: HttpLimits;
  /** the connection became a tunnel: its auth deadline ends (Gatekeeper.tunnelUp) */
  tunnelUp: (sock: TLSSocket) => void;
  /** longest Cookie header accepted (all Cookie lines together) */
  maxCookieBytes: number;
  /** malformed requests and bad cookies are events: the ban guard scores them */
  events: GatewayEvents;
  /** tls.client-ca is set: the handshake asked for a client certificate, read its verdict */
  clientCerts?: boolean;
}

/** ocserv closes after 16 requests (§1.2); we allow a few more, then close. */
const MAX_REQUESTS = 32;

const EMPTY_MANIFEST = '<?xml version="1.0" encoding="UTF-8"?>\n<vpn rev="1.0">\n</vpn>\n';

/**
 * Downloader probes that AnyConnect makes; answering them (as ocserv does) keeps Cisco clients
 * happy, and the two +CSCOT+ URLs must exist or AnyConnect breaks (§9.2, quirk 24).
 */
function stub(path: string): HttpReply | null {
  const p = path.split('?')[0]!;
  const xml = (body: string): HttpReply => ({ status: 200, reason: 'OK', headers: [['Content-Type', 'text/xml']], body });
  if (p === '/+CSCOT+/translation-table' || p === '/+CSCOT+/oem-customization') return xml(EMPTY_MANIFEST);
  if (p === '/VPNManifest.xml' || p === '/1/VPNManifest.xml') return xml(EMPTY_MANIFEST);
  if (p === '/1/binaries/update.txt') return { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain']], body: '0,0,0000\n' };
  if (p === '/1/binaries/vpndownloader.sh') return { status: 200, reason: 'OK', headers: [['Content-Type', 'text/plain']], body: '#!/bin/sh\nexit 0\n' };
  if (/^\/1\/(index\.html|Linux|Linux_64|Windows|Windows_ARM64|Darwin_i386)$/.test(p) || p === '/logout') {
    return { status: 200, reason: 'OK', headers: [['Content-Type', 'text/html']], body: '<html></html>\n' };
  }
  return null;
}

const EMPTY = Buffer.alloc(0);

/**
 * The TLS client certificate of this connection, as the auth requests see it (RequestContext
 * cert / certError). Only asked for with tls.client-ca (gateway.ts); read once, after the
 * handshake. CONNECT ignores it: the cookie is the credential, whether or not the client shows
 * its certificate again on the tunnel's connection.
 */
function connectionCert(sock: TLSSocket, log: Logger, remote: string): Pick<RequestContext, 'cert' | 'certError'> {
  const v = certVerdict(sock.getPeerCertificate(), sock.authorized, sock.authorizationError);
  if (v.kind === 'verified') {
    log.info({ remote, subject: v.info.subject, serial: v.info.serial, fingerprint: v.info.fingerprint }, 'client certificate verified');
    return { cert: v.info };
  }
  if (v.kind === 'refused') {
    log.warn({ remote, code: v.code, subject: v.subject, issuer: v.issuer, serial: v.serial, err: v.error }, 'client certificate refused');
    return { certError: v.error };
  }
  return {};
}

export function serveConnection(sock: TLSSocket, d: ConnectionDeps): void {
  const remoteAddr = sock.remoteAddress ?? '?';
  const parser = new HttpRequestParser(d.httpLimits);
  let count = 0;
  /** no more answers: the connection is closing or became a tunnel */
  let done = false;
  /** no more input is parsed (after a parse error or CONNECT) */
  let stopped = false;
  /** a request is in work: the socket is paused */
  let busy = false;

  sock.setNoDelay(true);
  sock.on('error', () => sock.destroy());
  const cert = d.clientCerts ? connectionCert(sock, d.log, remoteAddr) : {};

  /** After the last answer went out, close for good: nothing the peer still sends is read. */
  const close = (msg: Buffer | string): void => {
    done = true;
    sock.once('finish', () => sock.destroy());
    sock.end(msg);
  };

  const send = (r: HttpReply): void => {
    if (done || sock.destroyed) return;
    const headers: Array<[string, string]> = [...r.headers];
    if (r.close) headers.push(['Connection', 'close']);
    // Head and body in one write: one TLS record, no delayed-ACK stall (issue 5's note on ocserv).
    const msg = formatResponse(r.status, r.reason, headers, r.body);
    if (r.close) close(msg);
    else sock.write(msg);
  };

  const handle = async (req: HttpRequest): Promise<void> => {
    if (done || sock.destroyed) return;
    if (++count > MAX_REQUESTS) {
      send({ status: 429, reason: 'Too Many Requests', headers: [], body: '', close: true });
      return;
    }
    const ua = req.headers.get('user-agent') ?? '';
    if (req.headers.getAll('cookie').reduce((n, c) => n + c.length, 0) > d.maxCookieBytes) {
      d.events.emit({ type: 'bad-request', remote: remoteAddr, reason: 'cookie-too-large' });
      send({ status: 431, reason: 'Request Header Fields Too Large', headers: [], body: '', close: true });
      return;
    }
    if (req.method === 'CONNECT') {
      done = true;
      stopped = true;
      if (req.target !== CONNECT_PATH && req.target !== CONNECT_PATH.slice(1)) {
        close(formatResponse(404, 'Not Found', [], ''));
        return;
      }
      if (await openTunnel(sock, req, parser.rest(), d.tunnel, remoteAddr)) {
        d.tunnelUp(sock);
        // The CSTP channel reads the socket from here on.
        sock.resume();
      } else sock.once('finish', () => sock.destroy()); // refused: openTunnel answered and ends
      return;
    }
    if (req.method === 'POST') {
      const cookies = parseCookies(req.headers.get('cookie'));
      const context = cookies.get('webvpncontext');
      const placed = cookies.has(PLACED_COOKIE);
      send(await d.auth.handlePost(req.body.toString('utf8'), { remoteAddr, userAgent: ua, path: req.target, ...cert, ...(context ? { contextCookie: context } : {}), ...(placed ? { placed } : {}) }));
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const profile = d.profile();
      if (profile && isProfileRequest(req.target, profile.uri)) {
        // The profile is for authenticated clients only (ocserv cookie_authenticate_or_exit). The
        // downloader asks on a fresh connection (§3), which with several workers may reach another
        // worker than the login did, so the session store answers too.
        let known: boolean;
        try {
          known = await d.sessions.isKnown(parseCookies(req.headers.get('cookie')).get('webvpn'));
        } catch (e) {
          d.log.warn({ remote: remoteAddr, err: (e as Error).message }, 'profile download: the session store did not answer');
          send({ status: 503, reason: 'Service Unavailable', headers: [], body: '', close: true });
          return;
        }
        if (!known) {
          d.events.emit({ type: 'auth-failure', remote: remoteAddr, reason: 'bad-cookie' });
          send({ status: 401, reason: 'Unauthorized', headers: [], body: '', close: true });
          return;
        }
        if (sock.destroyed) return;
        sock.write(formatResponse(200, 'OK', [['Content-Type', 'text/xml'], ['X-Transcend-Version', '1']], req.method === 'HEAD' ? Buffer.alloc(0) : profile.content));
        return;
      }
      const s = stub(req.target);
      if (s) {
        send(s);
        return;
      }
      if (req.target === '/' || req.target.startsWith('/?')) {
        // A GET of / starts the legacy flow (§2.7): answer the same login form.
        const placed = parseCookies(req.headers.get('cookie')).has(PLACED_COOKIE);
        send(d.auth.loginPage(d.tunnel.config().groups[0]!, { remoteAddr, userAgent: ua, path: req.target, ...cert, ...(placed ? { placed } : {}) }));
        return;
      }
    }
    send({ status: 404, reason: 'Not Found', headers: [], body: '', close: true });
  };

  /** Answers the requests in the parser's buffer one at a time, then reads again. */
  const work = async (chunk: Buffer): Promise<void> => {
    let input = chunk;
    for (;;) {
      let req: HttpRequest | undefined;
      try {
        req = parser.push(input, 1)[0];
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(400, 'bad request');
        d.log.warn({ remote: remoteAddr, status: err.status, err: err.message }, 'bad HTTP request');
        d.events.emit({ type: 'bad-request', remote: remoteAddr, reason: `http-${err.status}` });
        stopped = true;
        send({ status: err.status, reason: err.status === 431 ? 'Request Header Fields Too Large' : err.status === 413 ? 'Payload Too Large' : 'Bad Request', headers: [], body: '', close: true });
        return;
      }
      input = EMPTY;
      if (!req) break;
      try {
        await handle(req);
      } catch (e) {
        d.log.error({ remote: remoteAddr, err: (e as Error).message }, 'request failed');
        send({ status: 500, reason: 'Internal Server Error', headers: [], body: '', close: true });
      }
      if (done || stopped || sock.destroyed) return;
    }
    busy = false;
    sock.resume();
  };

  sock.on('data', (chunk: Buffer) => {
    if (stopped || done) return;
    if (busy) {
      // Cannot happen while paused; if it did, handling it would break the order of answers.
      d.log.error({ remote: remoteAddr }, 'data while a request is in work; closing');
      sock.destroy();
      return;
    }
    busy = true;
    sock.pause();
    void work(chunk);
  });
}
