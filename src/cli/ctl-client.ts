/**
 * `sslgate ctl`'s side of the control API: where the admin listener is, and requests to it.
 *
 * The admin socket is found from the gateway's config (admin.socket, else STATE/admin.sock).
 * That must work even when the file on disk is broken (the admin is about to `ctl reload` it to
 * see the error), so when full validation fails, only the `state` and `admin` keys are read.
 */
import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, DEFAULT_STATE_DIR, loadConfig } from '../gateway/config.js';
import { CliError } from './errors.js';

export interface AdminEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
  /** for messages */
  describe: string;
}

export interface LocateOptions {
  config?: string;
  socket?: string;
  /** http://HOST:PORT of a TCP admin listener */
  url?: string;
  tokenFile?: string;
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new CliError(`cannot read the admin token ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function tcp(url: string, token: string | undefined): AdminEndpoint {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new CliError(`--url must be http://HOST:PORT, got ${url}`);
  const ep: AdminEndpoint = { host: u.hostname, port: Number(u.port || 80), describe: url };
  if (token) ep.token = token;
  return ep;
}

/** Only `state` and `admin` of a config that does not validate. */
function lenient(file: string): AdminEndpoint {
  const abs = resolve(file);
  let doc: { state?: unknown; admin?: { socket?: unknown; listen?: unknown; 'token-file'?: unknown } } | null;
  try {
    doc = parseYaml(readFileSync(abs, 'utf8')) as typeof doc;
  } catch (e) {
    throw new CliError(`cannot read ${abs} to find the admin socket: ${(e as Error).message.split('\n')[0]}; use --socket PATH`);
  }
  const base = dirname(abs);
  const state = typeof doc?.state === 'string' ? resolve(base, doc.state) : DEFAULT_STATE_DIR;
  const socket = doc?.admin?.socket;
  if (socket === 'none' && typeof doc?.admin?.listen === 'string') {
    const tokenFile = typeof doc.admin['token-file'] === 'string' ? resolve(base, doc.admin['token-file']) : join(state, 'admin.token');
    return tcp(`http://${doc.admin.listen}`, readToken(tokenFile));
  }
  const path = typeof socket === 'string' && socket !== 'none' ? resolve(base, socket) : join(state, 'admin.sock');
  return { socketPath: path, describe: path };
}

export function locateAdmin(o: LocateOptions): AdminEndpoint {
  if (o.socket) return { socketPath: resolve(o.socket), describe: resolve(o.socket) };
  if (o.url) return tcp(o.url, o.tokenFile ? readToken(o.tokenFile) : process.env['SSLGATE_ADMIN_TOKEN']);
  let cfg;
  try {
    cfg = loadConfig(o.config);
  } catch (e) {
    if (e instanceof ConfigError && o.config && e.key !== '(file)') return lenient(o.config);
    if (e instanceof ConfigError) throw new CliError(e.message, 2);
    throw e;
  }
  if (cfg.admin.socket) return { socketPath: cfg.admin.socket, describe: cfg.admin.socket };
  if (cfg.admin.listen) return tcp(`http://${cfg.admin.listen.host}:${cfg.admin.listen.port}`, readToken(cfg.admin.tokenFile));
  throw new CliError('the gateway has no admin listener (admin.socket: none and no admin.listen)');
}

function open(ep: AdminEndpoint, method: string, path: string, onResponse: (res: IncomingMessage) => void, onError: (e: Error) => void): void {
  const headers: Record<string, string> = {};
  if (ep.token) headers['Authorization'] = `Bearer ${ep.token}`;
  const req = request(ep.socketPath ? { socketPath: ep.socketPath, path, method, headers } : { host: ep.host, port: ep.port, path, method, headers }, onResponse);
  req.on('error', onError);
  req.end();
}

function unreachable(ep: AdminEndpoint, e: Error): CliError {
  const code = (e as NodeJS.ErrnoException).code;
  const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ' (is the gateway running with this config?)' : code === 'EACCES' ? ' (run ctl as root)' : '';
  return new CliError(`cannot reach the gateway's admin API at ${ep.describe}: ${code ?? e.message}${hint}`);
}

/** One request; resolves with the parsed JSON (or text for /metrics); an error status throws CliError. */
export function call(ep: AdminEndpoint, method: string, path: string, timeoutMs = 15_000): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new CliError(`the gateway's admin API did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    open(
      ep,
      method,
      path,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const isJson = (res.headers['content-type'] ?? '').startsWith('application/json');
          let body: unknown = text;
          if (isJson) {
            try {
              body = JSON.parse(text);
            } catch {
              body = text;
            }
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolvePromise(body);
          const b = body as { error?: string } | null;
          reject(Object.assign(new CliError(b && typeof b === 'object' && b.error ? b.error : `HTTP ${status}`), { status, body }));
        });
      },
      (e) => {
        clearTimeout(timer);
        reject(unreachable(ep, e));
      },
    );
  });
}

/** GET a stream of JSON lines; calls `onLine` for each until the connection ends. */
export function stream(ep: AdminEndpoint, path: string, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    open(
      ep,
      'GET',
      path,
      (res) => {
        if (res.statusCode !== 200) {
          reject(new CliError(`events: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line) onLine(line);
          }
        });
        res.on('end', () => resolvePromise());
        res.on('error', () => resolvePromise());
      },
      (e) => reject(unreachable(ep, e)),
    );
  });
}
