/**
 * The listeners of the operations layer (plain HTTP/1.1, node:http):
 *   - the admin API on a Unix socket (default STATE/admin.sock, mode 0600 in a 0700 folder:
 *     only root reaches it; the file system is not network-namespaced, so `ctl` works from the
 *     host while the gateway runs in a namespace);
 *   - optionally the admin API on TCP, every request with `Authorization: Bearer <token>`;
 *   - optionally the Prometheus endpoint (GET <path> only, no auth: bind it to a trusted address).
 */
import { timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { HostPort } from '../config-ops.js';
import { route, type AdminContext, type ApiReply } from './admin-api.js';
import type { GatewayEventType } from './events.js';
import type { GatewayMetrics } from './metrics.js';

function reply(res: ServerResponse, r: ApiReply): void {
  const body = r.text ?? JSON.stringify(r.json ?? null) + '\n';
  res.writeHead(r.status, { 'Content-Type': r.contentType ?? 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

/** GET /v1/events: one JSON event per line until the client goes away. */
function streamEvents(c: AdminContext, res: ServerResponse, query: URLSearchParams): void {
  const only = query.get('types')?.split(',').filter(Boolean) as GatewayEventType[] | undefined;
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
  // Headers now: the client knows it is subscribed before the first event.
  res.flushHeaders();
  const unsubscribe = c.gw.events.subscribe((ev) => {
    if (only && !only.includes(ev.type)) return;
    // A reader that stopped reading must not make the gateway buffer without bound.
    if (res.writableLength > 1024 * 1024) {
      res.destroy();
      return;
    }
    res.write(JSON.stringify(ev) + '\n');
  });
  // The response's 'close' = the client went away (req 'close' may only mean "body read").
  res.on('close', unsubscribe);
}

function bearerOk(req: IncomingMessage, token: Buffer): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const got = Buffer.from(m[1]!);
  return got.length === token.length && timingSafeEqual(got, token);
}

/** The admin API's request handler; `token` null = no auth (Unix socket). */
export function adminHandler(c: AdminContext, token: Buffer | null) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (token && !bearerOk(req, token)) {
      reply(res, { status: 401, json: { error: 'missing or wrong bearer token' } });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/v1/events') {
      streamEvents(c, res, url.searchParams);
      return;
    }
    route(c, { method, path: url.pathname, query: url.searchParams }).then(
      (r) => reply(res, r),
      (e: unknown) => {
        c.log.error({ err: (e as Error).message, path: url.pathname }, 'admin API request failed');
        reply(res, { status: 500, json: { error: (e as Error).message } });
      },
    );
  };
}

export function metricsHandler(metrics: GatewayMetrics, path: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if ((req.method !== 'GET' && req.method !== 'HEAD') || url.pathname !== path) {
      reply(res, { status: 404, text: 'not found\n', contentType: 'text/plain' });
      return;
    }
    metrics.text().then(
      (text) => reply(res, { status: 200, text, contentType: metrics.contentType }),
      (e: unknown) => reply(res, { status: 500, text: `${(e as Error).message}\n`, contentType: 'text/plain' }),
    );
  };
}

function listen(server: Server, onListen: (cb: () => void) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    onListen(() => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** True if a process answers on the Unix socket (then it is not a stale file to remove). */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function listenUnix(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await socketInUse(path)) throw new Error(`admin socket ${path} is in use (another gateway with the same state folder?)`);
    unlinkSync(path); // left by a gateway that was killed
  }
  const server = createServer(handler);
  await listen(server, (cb) => server.listen(path, cb));
  // The folder is 0700 already; 0600 on the socket too, in case the folder is shared.
  chmodSync(path, 0o600);
  return server;
}

export async function listenTcp(at: HostPort, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  return listen(server, (cb) => server.listen(at.port, at.host, cb));
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Event streams are long-lived: end them so close() completes.
    server.closeAllConnections();
  });
}
