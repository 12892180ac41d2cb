/**
 * "Does this gateway want a client certificate, and from which CAs?" — asked only on the error
 * path, when login failed (or the gateway sent `<client-cert-request/>`) and no certificate is
 * configured, so the user gets a clear message instead of a bare "Authentication failed".
 *
 * It runs a throw-away TLS 1.2 handshake through a tap that records the server's bytes (the
 * CertificateRequest is plaintext in TLS 1.2; Node does not expose it), then parses them with
 * tls-cert-request.ts. Nothing is sent after the handshake. The normal connections never go
 * through a tap: it would put a JS stream on the data path.
 */
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { GatewayUrl } from './gateway-url.js';
import { parseCertificateRequest, type CertRequestInfo } from './tls-cert-request.js';

class Tap extends Duplex {
  constructor(private readonly sock: net.Socket, onIn: (b: Buffer) => void) {
    super();
    sock.on('data', (d: Buffer) => {
      onIn(d);
      if (!this.push(d)) sock.pause();
    });
    sock.on('end', () => this.push(null));
    sock.on('error', (e) => this.destroy(e));
  }

  override _read(): void {
    this.sock.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.sock.write(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.sock.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.sock.destroy();
    cb(err);
  }
}

/** Resolves with what the server's TLS 1.2 flight asked for; never rejects (unknown = not requested). */
export function probeCertificateRequest(url: GatewayUrl, timeoutMs = 5000): Promise<CertRequestInfo> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const raw = net.connect({ host: url.host, port: url.port });
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.destroy();
      resolve(parseCertificateRequest(Buffer.concat(chunks)));
    };
    const timer = setTimeout(finish, timeoutMs);
    raw.once('error', finish);
    raw.once('connect', () => {
      const opts: tls.ConnectionOptions = { socket: new Tap(raw, (b) => chunks.push(b)), rejectUnauthorized: false, maxVersion: 'TLSv1.2' };
      if (url.servername) opts.servername = url.servername;
      const s = tls.connect(opts);
      s.once('secureConnect', () => {
        s.destroy();
        finish();
      });
      s.once('error', finish);
    });
  });
}
