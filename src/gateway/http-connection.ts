/**
 * One TLS connection before it becomes a tunnel: HTTP/1.1 requests of the auth exchange, the
 * profile download and the downloader stubs, then CONNECT (PROTOCOL.md §1.5 URL map). Requests are
 * answered in order, one at a time; every size is bounded by the parser; anything malformed gets
 * an error status and the connection is closed.
 */
import type { TLSSocket } from 'node:tls';
import { formatResponse, HttpError, HttpRequestParser, parseCookies, type HttpLimits, type HttpRequest } from '../protocol/http.js';
import { CONNECT_PATH } from '../protocol/connect-headers.js';
import { isProfileRequest } from '../protocol/profile.js';
import type { Logger } from '../log.js';
import type { AuthHandler, HttpReply } from './auth-handler.js';
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
  /** seconds a connection may spend before CONNECT */
  authTimeout: number;
  /** longest Cookie header accepted (all Cookie lines together) */
  maxCookieBytes: number;
  /** malformed requests and bad cookies are events: the ban guard scores them */
  events: GatewayEvents;
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

export function serveConnection(sock: TLSSocket, d: ConnectionDeps): void {
  const remoteAddr = sock.remoteAddress ?? '?';
  const parser = new HttpRequestParser(d.httpLimits);
  let chain: Promise<void> = Promise.resolve();
  let count = 0;
  /** no more answers: the connection is closing or became a tunnel */
  let done = false;
  /** no more input is parsed (after a parse error or CONNECT) */
  let stopped = false;

  sock.setNoDelay(true);
  sock.setTimeout(d.authTimeout * 1000, () => sock.destroy());
  sock.on('error', () => sock.destroy());

  const send = (r: HttpReply): void => {
    if (done || sock.destroyed) return;
    const headers: Array<[string, string]> = [...r.headers];
    if (r.close) headers.push(['Connection', 'close']);
    // Head and body in one write: one TLS record, no delayed-ACK stall (issue 5's note on ocserv).
    const msg = formatResponse(r.status, r.reason, headers, r.body);
    if (r.close) {
      done = true;
      sock.end(msg);
    } else sock.write(msg);
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
      if (req.target !== CONNECT_PATH && req.target !== CONNECT_PATH.slice(1)) {
        sock.end(formatResponse(404, 'Not Found', [], ''));
        return;
      }
      openTunnel(sock, req, parser.rest(), d.tunnel, remoteAddr);
      return;
    }
    if (req.method === 'POST') {
      send(await d.auth.handlePost(req.body.toString('utf8'), { remoteAddr, userAgent: ua, path: req.target }));
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const profile = d.profile();
      if (profile && isProfileRequest(req.target, profile.uri)) {
        // The profile is for authenticated clients only (ocserv cookie_authenticate_or_exit).
        if (!d.sessions.byCookie(parseCookies(req.headers.get('cookie')).get('webvpn'))) {
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
        send(d.auth.form(d.tunnel.config().groups[0]!, { remoteAddr, userAgent: ua, path: '/' }));
        return;
      }
    }
    send({ status: 404, reason: 'Not Found', headers: [], body: '', close: true });
  };

  sock.on('data', (chunk: Buffer) => {
    if (stopped) return;
    let reqs: HttpRequest[];
    try {
      reqs = parser.push(chunk);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(400, 'bad request');
      d.log.warn({ remote: remoteAddr, status: err.status, err: err.message }, 'bad HTTP request');
      d.events.emit({ type: 'bad-request', remote: remoteAddr, reason: `http-${err.status}` });
      stopped = true;
      chain = chain.then(() => send({ status: err.status, reason: err.status === 431 ? 'Request Header Fields Too Large' : err.status === 413 ? 'Payload Too Large' : 'Bad Request', headers: [], body: '', close: true }));
      return;
    }
    for (const req of reqs) {
      chain = chain.then(() => handle(req)).catch((e: unknown) => {
        d.log.error({ remote: remoteAddr, err: (e as Error).message }, 'request failed');
        send({ status: 500, reason: 'Internal Server Error', headers: [], body: '', close: true });
      });
    }
  });
}
