/**
 * What `serve` reads or binds before the network processes start, where a bad file or a port in
 * use stops the start with a ServeError worded for the person who ran it: the TLS port, and the
 * client CA files (tls.client-ca, tls.crl; read again on every reload).
 */
import type { Logger } from '../../log.js';
import { listenTcpSocket } from '../../os/tun.js';
import type { GatewayConfig } from '../config.js';
import { ClientCaError, readClientCaFiles, type ClientCaFiles } from '../tls-client-ca.js';
import { ServeError } from './serve-error.js';
import { inheritedListenFd } from './serve-setup.js';

/**
 * The TLS port: the socket a supervising `serve` passed on (SSLGATE_LISTEN_FD, when it is for
 * the configured address), else a new one bound here.
 */
export function listenSocket(cfg: GatewayConfig): number {
  const inherited = inheritedListenFd(cfg);
  if (inherited !== null) return inherited;
  try {
    return listenTcpSocket(cfg.listen.host, cfg.listen.port);
  } catch (e) {
    const err = e as Error & { code?: string };
    throw new ServeError(err.code ? `${err.message} [${err.code}]` : err.message);
  }
}

/** tls.client-ca and tls.crl, checked (tls-client-ca.ts); a bad file stops the start with its name. */
export function readClientCa(cfg: GatewayConfig, log: Logger): ClientCaFiles | null {
  try {
    return readClientCaFiles(cfg.tls, (message) => log.warn({ file: cfg.tls.clientCa }, message));
  } catch (e) {
    if (e instanceof ClientCaError) throw new ServeError(e.message);
    throw e;
  }
}
