/**
 * One TLS connection speaking HTTP/1.1 request by request, for the load generator's auth
 * exchange and CONNECT. The parsing is src/protocol/http.ts; this only moves bytes. After a
 * CONNECT answer the connection is handed over, with the bytes that followed the answer.
 */
import { connect, type TLSSocket } from 'node:tls';
import { HttpResponseParser, type HttpResponse } from '../../src/protocol/http.js';

export class LinkClosedError extends Error {
  constructor(message = 'the gateway closed the connection') {
    super(message);
    this.name = 'LinkClosedError';
  }
}

/** TLS to host:port without certificate checks (the benchmark talks to its own gateways). */
export function connectTls(host: string, port: number, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('TLS connect timeout'));
    }, timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export class HttpLink {
  private parser: HttpResponseParser | null = null;
  private waiter: { resolve: (r: HttpResponse) => void; reject: (e: Error) => void } | null = null;
  private closed = false;

  constructor(readonly sock: TLSSocket) {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onClose);
    sock.on('error', () => undefined); // 'close' follows and rejects the waiter
  }

  get open(): boolean {
    return !this.closed && !this.sock.destroyed;
  }

  /** Sends a request; resolves with the answer. `connect`: the answer has headers only. */
  request(text: string, opts: { connect?: boolean; timeoutMs: number }): Promise<HttpResponse> {
    if (!this.open) return Promise.reject(new LinkClosedError());
    this.parser = new HttpResponseParser(undefined, opts.connect === true);
    return new Promise<HttpResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error('HTTP answer timeout'));
        this.sock.destroy();
      }, opts.timeoutMs);
      this.waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.sock.write(text);
    });
  }

  /** Stops reading HTTP; returns the bytes received after the last answer (CSTP after CONNECT). */
  detach(): Buffer {
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onClose);
    return this.parser?.rest() ?? Buffer.alloc(0);
  }

  private settle(fn: (w: NonNullable<HttpLink['waiter']>) => void): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) fn(w);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.parser || !this.waiter) return;
    try {
      const r = this.parser.push(chunk);
      if (r) this.settle((w) => w.resolve(r));
    } catch (e) {
      this.settle((w) => w.reject(e as Error));
      this.sock.destroy();
    }
  };

  private readonly onEnd = (): void => {
    this.closed = true;
    const r = this.parser?.end() ?? null;
    if (r) this.settle((w) => w.resolve(r));
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.settle((w) => w.reject(new LinkClosedError()));
  };
}
