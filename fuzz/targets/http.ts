/**
 * HTTP/1.1 parsing on both sides (src/protocol/http.ts): the gateway's request parser (with what
 * the gateway does next with each request: CONNECT headers, cookies, the auth body) and the
 * client's response parser. Byte 0 of the input chooses how the rest is cut into chunks.
 */
import { parseClientAuth, AuthXmlError } from '../../src/protocol/auth-xml.js';
import { parseConnectRequest } from '../../src/protocol/connect-headers.js';
import { DEFAULT_HTTP_LIMITS, HttpError, HttpRequestParser, HttpResponseParser, parseCookies, type HttpLimits, type HttpRequest, type HttpResponse } from '../../src/protocol/http.js';
import { allowing, check, cuts, type FuzzTarget } from './target.js';

/** Small limits so the fuzzer reaches every limit with short inputs. */
const SMALL: HttpLimits = { maxHeaderBytes: 512, maxHeaders: 8, maxBodyBytes: 256 };
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface ReqOutcome {
  requests: HttpRequest[];
  status: number | null;
  connect: boolean;
}

function feedRequests(chunks: Buffer[], limits: HttpLimits): ReqOutcome {
  const p = new HttpRequestParser(limits);
  const requests: HttpRequest[] = [];
  let status: number | null = null;
  let connect = false;
  for (const c of chunks) {
    const got = allowing([HttpError], () => p.push(c), (e) => (status = (e as HttpError).status));
    if (!got) break;
    for (const r of got) {
      check(TOKEN.test(r.method), `request method ${JSON.stringify(r.method)} is not a token`);
      check(r.version === 'HTTP/1.1' || r.version === 'HTTP/1.0', `version ${r.version}`);
      check(r.headers.list.length <= limits.maxHeaders, `${r.headers.list.length} headers > ${limits.maxHeaders}`);
      check(r.body.length <= limits.maxBodyBytes, `body of ${r.body.length} bytes > ${limits.maxBodyBytes}`);
      for (const [k] of r.headers.list) check(TOKEN.test(k), `header name ${JSON.stringify(k)}`);
      if (r.method === 'CONNECT') connect = true;
      requests.push(r);
    }
    // What stays buffered is bounded by one request (head + body), whatever the peer sends.
    if (!connect) {
      const held = p.rest().length;
      check(held <= limits.maxHeaderBytes + 4 + limits.maxBodyBytes, `request parser holds ${held} bytes`);
    }
  }
  return { requests, status, connect };
}

/** What the gateway does with each request (http-connection.ts): none of it may throw. */
function gatewaySide(r: HttpRequest): void {
  parseConnectRequest(r.headers);
  parseCookies(r.headers.get('cookie'));
  if (r.body.length > 0) allowing([AuthXmlError], () => parseClientAuth(r.body.toString('utf8')));
}

function sameRequests(a: HttpRequest[], b: HttpRequest[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return x.method === y.method && x.target === y.target && x.version === y.version && x.body.equals(y.body)
      && JSON.stringify(x.headers.list) === JSON.stringify(y.headers.list);
  });
}

export const httpRequest: FuzzTarget = {
  name: 'http-request',
  description: 'gateway HTTP request parser (+ CONNECT headers, cookies, auth body of each request)',
  maxLen: 4096,
  covers: ['/dist/src/protocol/'],
  dictionary: ['\r\n', '\r\n\r\n', 'POST / HTTP/1.1', 'CONNECT /CSCOSSLC/tunnel HTTP/1.1', 'GET / HTTP/1.0', 'Content-Length: ', 'Transfer-Encoding: chunked', 'Cookie: webvpn=', 'X-CSTP-', 'X-DTLS-', ': ', '<?xml', '<config-auth type="auth-reply">', 'STF\x01'],
  run(data) {
    const stream = data.subarray(1);
    for (const limits of [SMALL, DEFAULT_HTTP_LIMITS]) {
      const whole = feedRequests([stream], limits);
      const split = feedRequests(cuts(stream, data[0] ?? 0), limits);
      for (const r of split.requests) gatewaySide(r);
      // Chunk boundaries must not change the result (a CONNECT hands the rest to CSTP, where the
      // "too much before the answer" limit is checked on the next push, so stop comparing there).
      if (!whole.connect && !split.connect) {
        check(whole.status === split.status, `error status ${whole.status} whole vs ${split.status} in chunks`);
        if (whole.status === null) check(sameRequests(whole.requests, split.requests), 'different requests whole vs in chunks');
      }
    }
  },
};

function feedResponses(chunks: Buffer[], limits: HttpLimits, noBody: boolean): { responses: HttpResponse[]; status: number | null } {
  const p = new HttpResponseParser(limits, noBody);
  const responses: HttpResponse[] = [];
  let status: number | null = null;
  const take = (r: HttpResponse | null | undefined): void => {
    if (!r) return;
    check(r.status >= 0 && r.status <= 999, `status ${r.status}`);
    check(r.body.length <= limits.maxBodyBytes, `body of ${r.body.length} bytes > ${limits.maxBodyBytes}`);
    check(r.headers.list.length <= limits.maxHeaders, `${r.headers.list.length} headers`);
    responses.push(r);
  };
  for (const c of chunks) {
    let failed = false;
    const got = allowing([HttpError], () => p.push(c), (e) => {
      status = (e as HttpError).status;
      failed = true;
    });
    if (failed) return { responses, status };
    if (got) {
      take(got);
      continue;
    }
    // Nothing complete yet: everything held is one response in progress, and that is bounded
    // (head + body + the chunked framing allowance).
    const held = p.rest().length;
    check(held <= 2 * limits.maxHeaderBytes + 4 + limits.maxBodyBytes, `response parser holds ${held} bytes with no response complete`);
  }
  take(allowing([HttpError], () => p.end(), (e) => (status = (e as HttpError).status)));
  return { responses, status };
}

export const httpResponse: FuzzTarget = {
  name: 'http-response',
  description: 'client HTTP response parser (Content-Length, chunked, until-close, CONNECT answers)',
  maxLen: 4096,
  covers: ['/dist/src/protocol/http'],
  dictionary: ['\r\n', '\r\n\r\n', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 CONNECTED', 'HTTP/1.0 302 Found', 'Content-Length: ', 'Transfer-Encoding: chunked', '0\r\n\r\n', 'ffff', ';ext=1', 'Set-Cookie: webvpn=', 'X-CSTP-MTU: 1399'],
  run(data) {
    const mode = data[0] ?? 0;
    const stream = data.subarray(1);
    const noBody = (mode & 0x80) !== 0;
    for (const limits of [SMALL, { ...DEFAULT_HTTP_LIMITS, maxBodyBytes: 4 * 1024 * 1024 }]) {
      const whole = feedResponses([stream], limits, noBody);
      const split = feedResponses(cuts(stream, mode & 0x7f), limits, noBody);
      check(whole.responses.length <= 1 || split.responses.length >= 1, 'chunks lost a response');
      // A complete first response must be the same however the bytes were cut.
      if (whole.responses.length && split.responses.length) {
        const a = whole.responses[0]!;
        const b = split.responses[0]!;
        check(a.status === b.status && a.body.equals(b.body), 'first response differs whole vs in chunks');
      }
    }
  },
};
