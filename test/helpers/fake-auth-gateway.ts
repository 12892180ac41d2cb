/**
 * A scripted in-process TLS gateway for the client's login tests: request i is answered with
 * script(req, i); requests and connections are recorded. It speaks only what a test scripts
 * (no real gateway logic): the proof against real servers is in test/interop.
 */
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { HttpRequestParser, formatResponse, type HttpRequest } from '../../src/protocol/http.js';

export interface Reply {
  status?: number;
  reason?: string;
  headers?: Array<[string, string]>;
  body?: string;
}

export interface FakeGateway {
  url: string;
  reqs: HttpRequest[];
  conns: () => number;
  close: () => void;
}

export async function fakeGateway(creds: { key: Buffer; cert: Buffer }, script: (req: HttpRequest, i: number) => Reply): Promise<FakeGateway> {
  const reqs: HttpRequest[] = [];
  let conns = 0;
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key: creds.key, cert: creds.cert }, (s) => {
    conns++;
    sockets.add(s);
    const parser = new HttpRequestParser();
    s.on('data', (d: Buffer) => {
      for (const req of parser.push(d)) {
        const r = script(req, reqs.length);
        reqs.push(req);
        const h: Array<[string, string]> = [['Content-Type', 'text/xml'], ['X-Transcend-Version', '1'], ...(r.headers ?? [])];
        s.write(formatResponse(r.status ?? 200, r.reason ?? 'OK', h, r.body ?? ''));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = (): void => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return { url: `https://127.0.0.1:${port}`, reqs, conns: () => conns, close };
}
