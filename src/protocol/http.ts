/**
 * A small HTTP/1.1 message parser for the auth exchange and CONNECT (PROTOCOL.md Appendix A.1:
 * node:http cannot hand over the socket as a raw CSTP stream with exact header spelling, so both
 * roles speak HTTP on the TLS socket themselves).
 *
 * Pure and incremental: feed bytes, get whole messages. Every size is bounded; a violation is a
 * typed HttpError with the status a server should answer, never an exception from deep inside.
 */

export interface HttpLimits {
  /** request/status line plus all header lines */
  maxHeaderBytes: number;
  maxHeaders: number;
  maxBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxHeaderBytes: 16 * 1024, maxHeaders: 64, maxBodyBytes: 64 * 1024 };

/** Headers in arrival order, names as sent; look-ups are case-insensitive (§1.2). */
export class HttpHeaders {
  constructor(readonly list: Array<[string, string]> = []) {}

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (const [k, v] of this.list) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (const [k, v] of this.list) if (k.toLowerCase() === lower) out.push(v);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}

export interface HttpRequest {
  method: string;
  target: string;
  version: string;
  headers: HttpHeaders;
  body: Buffer;
}

export interface HttpResponse {
  version: string;
  status: number;
  reason: string;
  headers: HttpHeaders;
  body: Buffer;
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses the header block (without the final CRLFCRLF). Throws HttpError. */
function parseHead(head: string, limits: HttpLimits): { first: string; headers: HttpHeaders } {
  const lines = head.split('\r\n');
  const first = lines.shift() ?? '';
  if (lines.length > limits.maxHeaders) throw new HttpError(431, `more than ${limits.maxHeaders} header lines`);
  const headers = new HttpHeaders();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, 'malformed header name');
    headers.list.push([name, line.slice(colon + 1).trim()]);
  }
  return { first, headers };
}

function bodyLength(headers: HttpHeaders, limits: HttpLimits): number {
  if (headers.has('transfer-encoding')) throw new HttpError(501, 'chunked request bodies are not supported');
  const cl = headers.getAll('content-length');
  if (cl.length === 0) return 0;
  if (cl.length > 1 || !/^\d{1,10}$/.test(cl[0]!)) throw new HttpError(400, 'bad Content-Length');
  const n = Number(cl[0]);
  if (n > limits.maxBodyBytes) throw new HttpError(413, `body of ${n} bytes exceeds the limit of ${limits.maxBodyBytes}`);
  return n;
}

/**
 * With `held` bytes buffered and no CRLFCRLF among them, can the header still end within the
 * limit? Its CRLFCRLF could start at byte held-3 at the earliest, so not once held > max + 3.
 * (Checking held > max refused a header of exactly the limit when its last bytes arrived in a
 * later chunk, but accepted it whole: caught by the http-request fuzz target's chunking check.)
 */
function headerCannotFit(held: number, limits: HttpLimits): boolean {
  return held > limits.maxHeaderBytes + 3;
}

/**
 * Incremental request parser for the gateway. `push` returns the complete requests found so far;
 * bytes after a CONNECT request are not HTTP (they are CSTP) and are left in `rest()`.
 */
export class HttpRequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private stopped = false;

  constructor(private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS) {}

  /**
   * Throws HttpError on a malformed or oversized request; the caller answers and closes. At most
   * `max` requests are parsed; the bytes after them stay buffered for the next call (a server
   * that handles one request at a time passes 1, so a pipelined flood is never parsed ahead).
   */
  push(chunk: Buffer, max = Infinity): HttpRequest[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.stopped) {
      // After CONNECT the bytes are CSTP, kept for whoever takes over the socket (bounded).
      if (this.buf.length > this.limits.maxBodyBytes) throw new HttpError(400, 'too much data before the CONNECT answer');
      return [];
    }
    const out: HttpRequest[] = [];
    while (out.length < max) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headerCannotFit(this.buf.length, this.limits)) throw new HttpError(431, 'request header too large');
        return out;
      }
      if (end > this.limits.maxHeaderBytes) throw new HttpError(431, 'request header too large');
      const { first, headers } = parseHead(this.buf.toString('latin1', 0, end), this.limits);
      const parts = first.split(' ');
      if (parts.length !== 3 || !TOKEN.test(parts[0]!) || !/^HTTP\/1\.[01]$/.test(parts[2]!)) {
        throw new HttpError(400, 'malformed request line');
      }
      const [method, target, version] = parts as [string, string, string];
      const len = method === 'CONNECT' ? 0 : bodyLength(headers, this.limits);
      const start = end + 4;
      if (this.buf.length < start + len) return out;
      out.push({ method, target, version, headers, body: Buffer.from(this.buf.subarray(start, start + len)) });
      this.buf = this.buf.subarray(start + len);
      if (method === 'CONNECT') {
        this.stopped = true;
        return out;
      }
    }
    return out;
  }

  /** Bytes received after the last request (after CONNECT: the first CSTP bytes, if any). */
  rest(): Buffer {
    return this.buf;
  }
}

/**
 * Response parser for the client: Content-Length, chunked, or (HTTP/1.0 / no length) read until
 * close, per §1.2 item 4. `noBody` for CONNECT answers (headers only, then CSTP).
 */
export class HttpResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private head: { version: string; status: number; reason: string; headers: HttpHeaders; start: number } | null = null;

  constructor(private readonly limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, maxBodyBytes: 4 * 1024 * 1024 }, private readonly noBody = false) {}

  /** Returns the response when complete, else null. Throws HttpError when malformed. */
  push(chunk: Buffer): HttpResponse | null {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.head) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headerCannotFit(this.buf.length, this.limits)) throw new HttpError(431, 'response header too large');
        return null;
      }
      if (end > this.limits.maxHeaderBytes) throw new HttpError(431, 'response header too large');
      const { first, headers } = parseHead(this.buf.toString('latin1', 0, end), this.limits);
      const m = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(first);
      if (!m) throw new HttpError(502, `malformed status line: ${first.slice(0, 80)}`);
      this.head = { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', headers, start: end + 4 };
    }
    const h = this.head;
    if (this.noBody || h.status === 204 || h.status === 304) return this.finish(h.start, h.start);
    const te = h.headers.get('transfer-encoding');
    if (te && te.toLowerCase().includes('chunked')) return this.chunked();
    const cl = h.headers.get('content-length');
    if (cl !== undefined) {
      if (!/^\d{1,10}$/.test(cl)) throw new HttpError(502, 'bad Content-Length');
      const n = Number(cl);
      if (n > this.limits.maxBodyBytes) throw new HttpError(502, `response body of ${n} bytes is over the limit`);
      if (this.buf.length - h.start < n) return null;
      return this.finish(h.start, h.start + n);
    }
    if (this.buf.length - h.start > this.limits.maxBodyBytes) throw new HttpError(502, 'response body over the limit');
    return null; // read until close: see end()
  }

  /** The connection closed: a response delimited by close is complete now. */
  end(): HttpResponse | null {
    const h = this.head;
    if (!h || h.headers.has('content-length') || h.headers.has('transfer-encoding')) return null;
    return this.finish(h.start, this.buf.length);
  }

  /** Bytes after the response (after a CONNECT answer: the first CSTP bytes). */
  rest(): Buffer {
    return this.buf;
  }

  private chunked(): HttpResponse | null {
    const h = this.head!;
    // The chunk sizes count against maxBodyBytes below, but the framing around them (size lines,
    // extensions, trailers) did not: a size line that never ended grew the buffer without bound
    // (caught by the http-response fuzz target's bound check). Allow maxHeaderBytes of framing.
    if (this.buf.length - h.start > this.limits.maxBodyBytes + this.limits.maxHeaderBytes) {
      throw new HttpError(502, 'chunked response body (with its framing) over the limit');
    }
    const parts: Buffer[] = [];
    let pos = h.start;
    let total = 0;
    for (;;) {
      const eol = this.buf.indexOf('\r\n', pos);
      if (eol < 0) return null;
      const size = parseInt(this.buf.toString('latin1', pos, eol).split(';')[0]!, 16);
      if (!Number.isFinite(size) || size < 0) throw new HttpError(502, 'bad chunk size');
      total += size;
      if (total > this.limits.maxBodyBytes) throw new HttpError(502, 'response body over the limit');
      if (size === 0) {
        const endTrailer = this.buf.indexOf('\r\n\r\n', eol);
        const end = this.buf.indexOf('\r\n', eol + 2) === eol + 2 ? eol + 4 : endTrailer >= 0 ? endTrailer + 4 : -1;
        if (end < 0) return null;
        const res = { version: h.version, status: h.status, reason: h.reason, headers: h.headers, body: Buffer.concat(parts) };
        this.buf = this.buf.subarray(end);
        this.head = null;
        return res;
      }
      if (this.buf.length < eol + 2 + size + 2) return null;
      parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
  }

  private finish(start: number, end: number): HttpResponse {
    const h = this.head!;
    const res = { version: h.version, status: h.status, reason: h.reason, headers: h.headers, body: Buffer.from(this.buf.subarray(start, end)) };
    this.buf = this.buf.subarray(end);
    this.head = null;
    return res;
  }
}

/** Cookie header value -> map (first value wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    if (!out.has(k)) out.set(k, part.slice(eq + 1).trim());
  }
  return out;
}

/** Serialises a response head (and body) with header names exactly as given (§1.2 item 2). */
export function formatResponse(status: number, reason: string, headers: Array<[string, string | number]>, body?: string | Buffer): Buffer {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  head += '\r\n';
  return body === undefined || body.length === 0 ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}
