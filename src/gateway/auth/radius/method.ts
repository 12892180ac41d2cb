/**
 * The RADIUS login method: PAP Access-Request (RFC 2865), Accept / Reject / Challenge mapped to
 * MethodResult. The attributes sent follow what ocserv sends (User-Name, User-Password,
 * NAS-Identifier and/or NAS-IP-Address, Calling-Station-Id = the client's address), with
 * NAS-Port-Type Virtual (RFC 2865 §5.41: 5, a VPN) and Service-Type Framed (2): the user gets a
 * tunnel address, like PPP.
 */
import type { LoginContext, MethodResult, PasswordMethod } from '../types.js';
import { bytesAttr, intAttr, ipv4Attr, textAttr } from './attributes.js';
import { RadiusClient, silentLog, type RadiusLog, type RadiusServer } from './client.js';
import { Attr, buildAccessRequest, Code, hidePassword, MAX_ATTR_VALUE, MAX_PASSWORD, RadiusError, type Attribute } from './packet.js';
import { readReply, saysPasswordExpired } from './reply.js';

export const SERVICE_TYPE_FRAMED = 2;
export const NAS_PORT_TYPE_VIRTUAL = 5;

export interface RadiusMethodOptions {
  /** the method's name in `auth: [...]` (the auth-servers key) */
  name: string;
  servers: RadiusServer[];
  secret: string;
  /** NAS-Identifier (default "sslgate") */
  nasIdentifier?: string;
  /** NAS-IP-Address, dotted IPv4 (optional; RFC 2865 wants NAS-Identifier or NAS-IP-Address) */
  nasIpAddress?: string;
  /** seconds per try (default 3) */
  timeout?: number;
  /** retransmissions per server (default 2) */
  retries?: number;
  /** accounting servers (RadiusAccounting uses them; kept here so one options object configures both) */
  accounting?: RadiusServer[];
  /** refuse replies without Message-Authenticator (default false) */
  requireMessageAuthenticator?: boolean;
  log?: RadiusLog;
}

/** The challenge state the engine keeps for us (plain data: it may cross a process boundary). */
export interface RadiusChallengeState {
  /** the State attribute, base64 (absent when the server sent none) */
  state?: string;
}

export class RadiusMethod implements PasswordMethod {
  readonly name: string;
  private readonly client: RadiusClient;
  private readonly log: RadiusLog;

  constructor(private readonly opts: RadiusMethodOptions) {
    this.name = opts.name;
    this.log = opts.log ?? silentLog;
    if (opts.secret === '') throw new RadiusError(`${opts.name}: the RADIUS secret is empty`);
    const clientOpts = {
      servers: opts.servers,
      secret: opts.secret,
      log: this.log,
      ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      ...(opts.requireMessageAuthenticator !== undefined ? { requireMessageAuthenticator: opts.requireMessageAuthenticator } : {}),
    };
    this.client = new RadiusClient(clientOpts);
  }

  authenticate(user: string, password: string, ctx: LoginContext): Promise<MethodResult> {
    return this.access(user, password, undefined, ctx);
  }

  respond(user: string, state: unknown, answer: string, ctx: LoginContext): Promise<MethodResult> {
    const s = state as RadiusChallengeState | null;
    const stateBytes = s && typeof s.state === 'string' ? Buffer.from(s.state, 'base64') : undefined;
    return this.access(user, answer, stateBytes, ctx);
  }

  private baseAttributes(user: string, ctx: LoginContext): Attribute[] {
    const attrs: Attribute[] = [textAttr(Attr.UserName, user)];
    if (this.opts.nasIpAddress !== undefined) attrs.push(ipv4Attr(Attr.NasIpAddress, this.opts.nasIpAddress));
    attrs.push(textAttr(Attr.NasIdentifier, this.opts.nasIdentifier ?? 'sslgate'));
    attrs.push(textAttr(Attr.CallingStationId, ctx.remote));
    attrs.push(intAttr(Attr.NasPortType, NAS_PORT_TYPE_VIRTUAL));
    attrs.push(intAttr(Attr.ServiceType, SERVICE_TYPE_FRAMED));
    return attrs;
  }

  private async access(user: string, password: string, state: Buffer | undefined, ctx: LoginContext): Promise<MethodResult> {
    const userBytes = Buffer.byteLength(user);
    if (userBytes === 0 || userBytes > MAX_ATTR_VALUE) return { kind: 'reject', message: 'Invalid user name.' };
    if (Buffer.byteLength(password) > MAX_PASSWORD) {
      this.log.info({ method: this.name, user }, `RADIUS ${this.name}: password longer than 128 bytes refused`);
      return { kind: 'reject' };
    }
    const base = this.baseAttributes(user, ctx);
    const result = await this.client.send(
      (id, random16) =>
        buildAccessRequest({
          id,
          authenticator: random16,
          secret: this.opts.secret,
          attributes: [
            ...base,
            bytesAttr(Attr.UserPassword, hidePassword(password, this.opts.secret, random16)),
            ...(state !== undefined ? [bytesAttr(Attr.State, state)] : []),
          ],
        }),
      `Access-Request for ${user}`,
    );
    if (!result.ok) {
      this.log.warn({ method: this.name, user }, `RADIUS ${this.name}: ${result.message}`);
      return { kind: 'error', message: 'The authentication server did not answer.' };
    }
    let info;
    try {
      info = readReply(result.packet);
    } catch (err) {
      this.log.warn({ method: this.name, user, err: (err as Error).message }, `RADIUS ${this.name}: malformed reply: ${(err as Error).message}`);
      return { kind: 'error', message: 'The authentication server sent a malformed answer.' };
    }
    for (const w of info.warnings) this.log.warn({ method: this.name, user }, `RADIUS ${this.name}: ignored ${w}`);
    switch (result.packet.code) {
      case Code.AccessAccept: {
        const r: MethodResult = { kind: 'accept', attrs: info.attrs };
        if (info.groups !== undefined) r.groups = info.groups;
        if (info.message !== undefined) r.message = info.message;
        return r;
      }
      case Code.AccessChallenge: {
        const st: RadiusChallengeState = info.state !== undefined ? { state: info.state.toString('base64') } : {};
        // RFC 2865 §4.4: the Reply-Message is the prompt; echo: false, the answer is a secret (a code).
        return { kind: 'challenge', message: info.message ?? 'Enter the response', state: st, echo: false };
      }
      default: {
        if (saysPasswordExpired(info.message)) return { kind: 'expired', message: info.message ?? 'Password expired', canChange: false };
        return info.message !== undefined ? { kind: 'reject', message: info.message } : { kind: 'reject' };
      }
    }
  }

  async close(): Promise<void> {
    // one socket per request: nothing stays open
  }
}
