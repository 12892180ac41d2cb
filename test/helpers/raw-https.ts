/**
 * A raw HTTPS client for the scripts that play a misbehaving peer (test/interop/*-client.ts,
 * *-attacker.ts): a TLS socket that trusts anything (the gateway's certificate is not what they
 * test) and one request/answer exchange read up to its Content-Length, nothing more.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export function tlsTo(host: string, port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Writes `request` and resolves with the whole answer (head and a Content-Length body); rejects
 * if the connection closes first.
 */
export function exchangeHttp(sock: TLSSocket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/Content-Length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length >= end + 4 + len) {
        sock.off('data', onData);
        sock.off('close', onClose);
        resolve(buf);
      }
    };
    const onClose = (): void => reject(new Error(`closed during ${request.split('\r\n')[0]}: ${buf.slice(0, 200)}`));
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(request);
  });
}
