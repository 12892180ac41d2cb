/**
 * HTTP/1.1 over one verified TLS connection, as the auth exchange, the downloader and CONNECT
 * use it (PROTOCOL.md Appendix A.1: our own small HTTP, so header spelling is exact and the
 * socket can become the CSTP stream after CONNECT).
 *
 * One request at a time, never pipelined (ocserv ≥1.5 rejects pipelining, quirk 42); each
 * request's head and body leave in one write (one TLS record, one TCP segment with NODELAY).
 */
import type { TLSSocket } from 'node:tls';
import { HttpError, HttpResponseParser, type HttpResponse } from '../protocol/http.js';
import type { Progress } from './progress.js';

export class ConnectionClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

interface Pending {
  parser: HttpResponseParser;
  resolve: (r: HttpResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Request head in the given header order; Content-Length added when a body is given. */
export function formatRequest(method: string, target: string, headers: Array<[string, string]>, body?: string): string {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return head + '\r\n';
}

/** Cookie values are session credentials: the dump shows their names only. */
function elideCookies(head: string): string {
  return head
    .replace(/^(Cookie): (.*)$/gim, (_m, name: string, v: string) => `${name}: ${v.split(';').map((c) => c.replace(/=.*/, '=<elided>')).join(';')}`)
    .replace(/^(Set-Cookie): ([^=;]*)=([^;]*)/gim, (_m, name: string, k: string, v: string) => `${name}: ${k}=${v ? '<elided>' : ''}`);
}

export class HttpsConnection {
  private pending: Pending | null = null;
  private closedFlag = false;
  /** false once the server said Connection: close or answered HTTP/1.0 */
  private reusable = true;
  /** bytes after the last response (after CONNECT: the first CSTP bytes) */
  private leftover: Buffer = Buffer.alloc(0);

  constructor(
    readonly socket: TLSSocket,
    private readonly progress: Progress,
    private readonly timeoutMs = 30_000,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Still usable for another request. */
  get open(): boolean {
    return !this.closedFlag && this.reusable && !this.socket.destroyed;
  }

  /**
   * Sends one request and resolves with the response. `dumpText` replaces the body in
   * --dump-http-traffic output (to hide passwords). `connect`: the response has no body and
   * the bytes after its head belong to CSTP (see detach()).
   */
  request(head: string, body?: string, opts: { dumpText?: string; connect?: boolean } = {}): Promise<HttpResponse> {
    if (!this.open) return Promise.reject(new ConnectionClosedError('the connection to the gateway is closed'));
    if (this.pending) return Promise.reject(new Error('HttpsConnection: one request at a time'));
    if (this.progress.dumpHttp) this.progress.dump('>', elideCookies(head) + (opts.dumpText ?? body ?? ''));
    return new Promise((resolve, reject) => {
      const parser = new HttpResponseParser(undefined, opts.connect === true);
      const timer = setTimeout(() => {
        this.fail(new ConnectionClosedError(`the gateway did not answer within ${this.timeoutMs / 1000} s`));
        this.socket.destroy();
      }, this.timeoutMs);
      this.pending = { parser, resolve, reject, timer };
      this.socket.write(body === undefined ? head : head + body);
    });
  }

  /** After a CONNECT 200: stop reading HTTP and hand over the bytes already received. */
  detach(): Buffer {
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onEnd);
    this.socket.removeListener('error', this.onError);
    this.reusable = false;
    return this.leftover;
  }

  close(): void {
    this.reusable = false;
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    const p = this.pending;
    if (!p) return; // nothing asked: a stray byte from the server is ignored
    let res: HttpResponse | null;
    try {
      res = p.parser.push(chunk);
    } catch (e) {
      this.fail(e instanceof HttpError ? new Error(`bad HTTP response from the gateway: ${e.message}`) : (e as Error));
      this.socket.destroy();
      return;
    }
    if (res) this.done(res, p);
  };

  private done(res: HttpResponse, p: Pending): void {
    clearTimeout(p.timer);
    this.pending = null;
    this.leftover = p.parser.rest();
    const conn = (res.headers.get('connection') ?? '').toLowerCase();
    if (conn === 'close' || (res.version === 'HTTP/1.0' && conn !== 'keep-alive')) this.reusable = false;
    if (this.progress.dumpHttp) {
      let dumpHead = `${res.version} ${res.status} ${res.reason}\n`;
      for (const [k, v] of res.headers.list) dumpHead += `${k}: ${v}\n`;
      this.progress.dump('<', elideCookies(dumpHead) + '\n' + res.body.toString('utf8'));
    }
    p.resolve(res);
  }

  private fail(e: Error): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = null;
    p.reject(e);
  }

  private readonly onEnd = (): void => {
    this.closedFlag = true;
    const p = this.pending;
    if (!p) return;
    // A response delimited by the close (HTTP/1.0, no length) is complete now.
    const res = p.parser.end();
    if (res) this.done(res, p);
    else this.fail(new ConnectionClosedError('the gateway closed the connection before answering'));
  };

  private readonly onError = (e: Error): void => {
    this.closedFlag = true;
    this.fail(new ConnectionClosedError(`connection to the gateway failed: ${e.message}`));
  };
}
