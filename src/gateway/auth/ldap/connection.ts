/**
 * One LDAP connection for one login, with a hard deadline.
 *
 * ldapts has a per-operation timeout and a connect timeout (unused here), but nothing bounds a TLS handshake
 * (ldaps or StartTLS) that the server never finishes, nor the total of several operations. So
 * every socket ldapts opens goes through our createConnection hooks, which keep it: when the
 * deadline passes, `run` destroys them all, every pending ldapts operation fails, and the login
 * gets an LdapTimeoutError within `timeoutMs` whatever the server does. The hooks also count
 * the bytes received and cut a connection off past LDAP_LIMITS.maxBytes (ldapts buffers a whole
 * message, however long the length says it is).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Client } from 'ldapts';
import { LDAP_LIMITS, type ResolvedLdapOptions } from './options.js';

export class LdapTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms / 1000} s`);
    this.name = 'LdapTimeoutError';
  }
}

type AnySocket = net.Socket | tls.TLSSocket;

export class LdapConnection {
  readonly client: Client;
  private readonly sockets = new Set<AnySocket>();
  private received = 0;
  private aborted = false;

  private constructor(private readonly o: ResolvedLdapOptions) {
    this.client = new Client({
      url: `${o.secure ? 'ldaps' : 'ldap'}://${net.isIPv6(o.host) ? `[${o.host}]` : o.host}:${o.port}`,
      // No ldapts timeout/connectTimeout: the one deadline in run() covers connect, TLS and every operation.
      // Only for ldaps: ldapts takes any tlsOptions as "connect with TLS", even for ldap:// (StartTLS gets its own).
      ...(o.secure ? { tlsOptions: this.tlsOptions() } : {}),
      strictDN: false, // DNs from the configuration were checked by options.ts; ldapts's own DN check is stricter than directories
      createConnection: ((...args: unknown[]) => this.track((net.connect as (...a: unknown[]) => net.Socket)(...args))) as typeof net.connect,
      createSecureConnection: ((...args: unknown[]) => this.track((tls.connect as (...a: unknown[]) => tls.TLSSocket)(...args))) as typeof tls.connect,
    });
  }

  /**
   * Opens a connection, upgrades it with StartTLS when configured, runs `fn`, closes. Rejects
   * with LdapTimeoutError when the whole took longer than the configured timeout.
   */
  static async run<T>(o: ResolvedLdapOptions, fn: (conn: LdapConnection) => Promise<T>): Promise<T> {
    const conn = new LdapConnection(o);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        conn.abort();
        reject(new LdapTimeoutError(o.timeoutMs));
      }, o.timeoutMs);
    });
    const work = (async () => {
      if (o.startTls) await conn.client.startTLS(conn.tlsOptions());
      return fn(conn);
    })();
    // After the deadline, `work` fails on its own (its sockets are gone): nobody awaits it then.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
      conn.close();
    }
  }

  /** TLS settings for ldaps and StartTLS: the certificate is always verified. */
  private tlsOptions(): tls.ConnectionOptions {
    return {
      host: this.o.host, // the name checkServerIdentity verifies (StartTLS passes no host of its own)
      ...(net.isIP(this.o.host) === 0 ? { servername: this.o.host } : {}),
      ...(this.o.ca ? { ca: this.o.ca } : {}),
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    };
  }

  private track<S extends AnySocket>(socket: S): S {
    if (this.aborted) {
      // The deadline has passed: no new connection (ldapts would reconnect on the next operation).
      process.nextTick(() => socket.destroy(new Error('LDAP login aborted')));
      return socket;
    }
    this.sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.received > LDAP_LIMITS.maxBytes) socket.destroy(new Error(`LDAP server sent more than ${LDAP_LIMITS.maxBytes} bytes`));
    });
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private abort(): void {
    this.aborted = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /**
   * Unbind politely when still connected, without waiting for it: ldapts closes the socket once
   * the request is written; a server that no longer reads gets its socket destroyed a second later.
   */
  private close(): void {
    if (!this.aborted && this.client.isConnected) {
      this.client.unbind().catch(() => undefined);
      setTimeout(() => this.abort(), 1000).unref();
    } else {
      this.abort();
    }
  }
}
