/**
 * RADIUS over UDP: sends one request to a list of servers in order, `timeout` seconds per try,
 * `retries` retransmissions per server, then the next server. A reply from another address or
 * port, or one that fails verifyReply (wrong identifier, wrong authenticator ...), is logged and
 * dropped: it is not an answer, the wait goes on. Never throws: the result says what happened.
 *
 * One socket per request (an ephemeral port): the Identifier space is then the request's own, and
 * no reply can be matched to the wrong login. Retransmissions to the same server repeat the same
 * bytes (RFC 5080 §2.2.1); the next server gets a new identifier and authenticator.
 */
import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes, randomInt } from 'node:crypto';
import { codeName, RadiusError, verifyReply, type BuiltRequest, type Packet } from './packet.js';

export interface RadiusServer {
  host: string;
  port: number;
}

/** The part of a pino Logger used here (pino's Logger fits). */
export interface RadiusLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export const silentLog: RadiusLog = { info: () => undefined, warn: () => undefined, debug: () => undefined };

export interface RadiusClientOptions {
  servers: RadiusServer[];
  secret: string;
  /** seconds per try (default 3) */
  timeout?: number;
  /** retransmissions per server after the first try (default 2) */
  retries?: number;
  /** refuse replies without Message-Authenticator (BlastRADIUS; default false: freeradius before 3.2.5 does not send it) */
  requireMessageAuthenticator?: boolean;
  log?: RadiusLog;
}

export type SendResult =
  | { ok: true; packet: Packet; server: RadiusServer }
  /** no server answered (or none could be reached): `message` says which */
  | { ok: false; message: string };

/**
 * Server addresses as the config writes them: "host", "host:port", "[v6]:port", a
 * comma-separated list, or a list of those (in failover order). Throws RadiusError on a bad one.
 */
export function parseServerList(value: string | string[], defaultPort: number): RadiusServer[] {
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim());
  if (items.length === 0 || items.some((i) => i === '')) throw new RadiusError(`RADIUS address ${JSON.stringify(value)}: empty entry`);
  return items.map((item) => {
    const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(item) ?? /^([^:\s]+)(?::(\d+))?$/.exec(item);
    if (!m) throw new RadiusError(`RADIUS address ${JSON.stringify(item)} is not host, host:port or [ipv6]:port`);
    const port = m[2] !== undefined ? Number(m[2]) : defaultPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RadiusError(`RADIUS address ${JSON.stringify(item)}: port ${port} is outside 1..65535`);
    return { host: m[1] as string, port };
  });
}

export function serverName(s: RadiusServer): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** Builds the request for one server: a fresh identifier and random bytes each time. */
export type RequestBuilder = (id: number, random16: Buffer) => BuiltRequest;

export class RadiusClient {
  readonly timeoutMs: number;
  readonly retries: number;
  private readonly log: RadiusLog;

  constructor(private readonly opts: RadiusClientOptions) {
    if (opts.servers.length === 0) throw new RadiusError('no RADIUS server configured');
    const timeout = opts.timeout ?? 3;
    const retries = opts.retries ?? 2;
    if (!(timeout > 0 && timeout <= 60)) throw new RadiusError(`RADIUS timeout ${timeout} s is outside 0..60`);
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) throw new RadiusError(`RADIUS retries ${retries} is outside 0..10`);
    this.timeoutMs = timeout * 1000;
    this.retries = retries;
    this.log = opts.log ?? silentLog;
  }

  /** The longest a send can take: every server, every try. */
  get maxDurationMs(): number {
    return this.opts.servers.length * (this.retries + 1) * this.timeoutMs;
  }

  async send(build: RequestBuilder, what: string): Promise<SendResult> {
    const silent: string[] = [];
    for (const server of this.opts.servers) {
      const request = build(randomInt(256), randomBytes(16));
      const r = await this.exchange(server, request, what);
      if (r.ok) return r;
      silent.push(`${serverName(server)} (${r.message})`);
    }
    const message = `no RADIUS server answered the ${what}: ${silent.join(', ')}`;
    return { ok: false, message };
  }

  private async exchange(server: RadiusServer, request: BuiltRequest, what: string): Promise<SendResult> {
    let address: string;
    let family: number;
    try {
      ({ address, family } = await lookup(server.host));
    } catch (err) {
      this.log.warn({ server: serverName(server), err: (err as Error).message }, `RADIUS server ${serverName(server)}: cannot resolve its name`);
      return { ok: false, message: 'name not resolved' };
    }
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    try {
      return await new Promise<SendResult>((resolve) => {
        let tries = 0;
        let timer: NodeJS.Timeout | undefined;
        const finish = (r: SendResult): void => {
          clearTimeout(timer);
          resolve(r);
        };
        socket.on('error', (err) => {
          // ECONNREFUSED etc. arrive here on some systems: the next try or the timeout decides.
          this.log.debug({ server: serverName(server), err: err.message }, 'RADIUS socket error');
        });
        socket.on('message', (msg, rinfo) => {
          if (rinfo.address !== address || rinfo.port !== server.port) {
            this.log.warn(
              { server: serverName(server), from: `${rinfo.address}:${rinfo.port}` },
              `RADIUS: dropped a datagram from ${rinfo.address}:${rinfo.port}, which is not the server ${serverName(server)} asked`,
            );
            return;
          }
          try {
            const packet = verifyReply(msg, request, this.opts.secret, { requireMessageAuthenticator: this.opts.requireMessageAuthenticator ?? false });
            finish({ ok: true, packet, server });
          } catch (err) {
            this.log.warn(
              { server: serverName(server), err: (err as Error).message },
              `RADIUS: dropped a reply from ${serverName(server)}: ${(err as Error).message}`,
            );
          }
        });
        const attempt = (): void => {
          if (tries > this.retries) {
            this.log.warn(
              { server: serverName(server), tries, timeoutSeconds: this.timeoutMs / 1000 },
              `RADIUS server ${serverName(server)} did not answer the ${what} (${tries} tries, ${this.timeoutMs / 1000} s each)`,
            );
            finish({ ok: false, message: 'no answer' });
            return;
          }
          tries++;
          socket.send(request.bytes, server.port, address, (err) => {
            if (err) this.log.debug({ server: serverName(server), err: err.message }, 'RADIUS send failed');
          });
          timer = setTimeout(attempt, this.timeoutMs);
        };
        this.log.debug({ server: serverName(server), code: codeName(request.code), id: request.id }, `RADIUS ${what} to ${serverName(server)}`);
        attempt();
      });
    } finally {
      socket.close();
    }
  }
}
