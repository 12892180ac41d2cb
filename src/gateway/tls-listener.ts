/**
 * A network process's TLS listener: the server, the sockets it has open, and the client CA it
 * asks certificates of (tls.client-ca, renewed on reload). What a connection is served with
 * comes from gateway.ts; this file decides only which connections get that far:
 *   - before serve() (still root) every connection is closed before a byte is read;
 *   - banned and over-rate addresses are refused before the TLS handshake (gatekeeper.ts), so a
 *     flood costs little;
 *   - at most `maxSockets` TLS connections at once;
 *   - a connection this side ended gets HALF_CLOSED_GRACE_MS for its peer to close its side.
 */
import type { Socket as TcpSocket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import type { TlsIdentity } from './tls-cert.js';
import { clientCertTlsOptions, type ClientCaFiles } from './tls-client-ca.js';

/** How long a connection this side ended may stay half-open before it is destroyed. */
const HALF_CLOSED_GRACE_MS = 5000;

export interface TlsListenerOptions {
  identity: TlsIdentity;
  /** PEM of the CAs whose client certificates are requested (tls.client-ca), and their CRLs */
  clientCaPem: string | null;
  clientCrlPem: string | null;
  /** TLS connections open at once, at most */
  maxSockets: number;
  /** true once root is given up (serve()) */
  serving(): boolean;
  /** the gatekeeper's check of a new TCP connection (bans, rate) */
  admit(sock: TcpSocket): void;
  /** a TLS connection counted in `sockets` (workers > 1: the balancer's count watches it) */
  opened?(sock: TLSSocket): void;
  /** a TLS connection accepted: served from here on */
  serve(sock: TLSSocket): void;
  log: Logger;
}

export class TlsListener {
  readonly sockets = new Set<TLSSocket>();
  private readonly server: Server;
  /** the TLS context options (without the client CA part), for setSecureContext on reload */
  private readonly context: SecureContextOptions;
  private caPem: string | null;
  private crlPem: string | null;
  private readonly log: Logger;

  constructor(o: TlsListenerOptions) {
    this.log = o.log;
    this.caPem = o.clientCaPem;
    this.crlPem = o.clientCrlPem;
    const tlsOpts: Parameters<typeof createServer>[0] = {
      cert: o.identity.certPem,
      key: o.identity.keyPem,
      minVersion: 'TLSv1.2',
      // Session tickets and the server-side session cache stay on (Node's defaults): openconnect
      // opens a second connection for CONNECT right after the login, and resuming saves a full
      // handshake. 300 s bounds how long a ticket is accepted.
      sessionTimeout: 300,
    };
    this.context = tlsOpts;
    // tls.client-ca: ask for a client certificate; the auth step reads the verdict.
    const clientCert = this.caPem ? clientCertTlsOptions({ caPem: this.caPem, crlPem: this.crlPem }) : {};
    const server = createServer({ ...tlsOpts, ...clientCert }, (sock) => {
      if (this.sockets.size >= o.maxSockets) {
        sock.destroy();
        return;
      }
      this.sockets.add(sock);
      o.opened?.(sock);
      sock.on('close', () => this.sockets.delete(sock));
      // A connection this side ended: the peer gets a moment to close its side, then it goes. A
      // peer that keeps it half-open (openconnect's socket after its BYE, seen in FIN-WAIT-2
      // here) would otherwise hold it, and its place in `sockets`, for good.
      sock.once('finish', () => setTimeout(() => sock.destroy(), HALF_CLOSED_GRACE_MS).unref());
      o.serve(sock);
    });
    // Banned and over-rate addresses are refused before the TLS handshake: a flood costs little.
    server.prependListener('connection', o.admit);
    // Before serve() (still root): close before a byte is read. Prepended last, so it runs first.
    server.prependListener('connection', (sock: TcpSocket) => {
      if (!o.serving()) sock.destroy();
    });
    // A TLS handshake that fails (random bytes, wrong protocol) only costs that connection.
    server.on('tlsClientError', (err, sock) => {
      o.log.debug({ remote: sock.remoteAddress, err: err.message }, 'TLS handshake failed');
      sock.destroy();
    });
    this.server = server;
  }

  /** Listens on the socket bound by the privileged process (`fd`), else binds host:port. */
  async listen(fd: number | null, port: number, host: string): Promise<void> {
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (fd !== null) server.listen({ fd }, done);
      else server.listen(port, host, done);
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'listener error'));
  }

  /** workers > 1: a connection the privileged process accepted, as if this server had. */
  emitConnection(sock: TcpSocket): void {
    this.server.emit('connection', sock);
  }

  /**
   * A reload read tls.client-ca and tls.crl again (a CRL is renewed in place, often daily): new
   * handshakes verify against them, connections already open keep their verdict. Only the files'
   * content: asking for certificates at all (requestCert) is fixed when the listener starts.
   * Returns the keys whose content changed, for the reload's `changed` list.
   */
  renewClientCa(f: ClientCaFiles): string[] {
    if (!this.caPem) return [];
    const changed = [...(f.caPem !== this.caPem ? ['tls.client-ca'] : []), ...(f.crlPem !== this.crlPem ? ['tls.crl'] : [])];
    if (changed.length === 0) return [];
    const { ca, crl } = clientCertTlsOptions(f);
    this.server.setSecureContext({ ...this.context, ca, ...(crl ? { crl } : {}) });
    this.caPem = f.caPem;
    this.crlPem = f.crlPem;
    return changed;
  }

  /** No new connections (those open stay). */
  close(): void {
    this.server.close();
  }

  /** Every open connection goes, without a word. */
  destroyAll(): void {
    for (const sock of this.sockets) sock.destroy();
  }
}
