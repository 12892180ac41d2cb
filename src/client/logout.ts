/**
 * The ASA-style logout on exit (PROTOCOL.md §2.6.13): a gateway that sent a `<session-token>`
 * ends the session on a logout POST. Best effort and bounded: a fresh connection, 3 s, and a
 * failure is only logged.
 */
import { buildLogout } from '../protocol/auth-xml-client.js';
import type { GatewayUrl } from './gateway-url.js';
import { HttpsConnection } from './https-connection.js';
import type { Progress } from './progress.js';
import { authRequestHead } from './request-headers.js';
import type { TlsConnector } from './tls-connect.js';

export interface LogoutOptions {
  url: GatewayUrl;
  connector: TlsConnector;
  userAgent: string;
  cookie: string;
  progress: Progress;
}

/** POSTs the logout for `token`; never throws. */
export async function logout(o: LogoutOptions, token: string): Promise<void> {
  const p = o.progress;
  try {
    const t = await o.connector.connect(o.url);
    const conn = new HttpsConnection(t.socket, p, 3000);
    const body = buildLogout(token);
    const head = authRequestHead({ method: 'POST', target: '/', hostHeader: o.url.hostHeader, userAgent: o.userAgent, cookie: `webvpn=${o.cookie}`, body });
    const res = await conn.request(head, body);
    conn.close();
    p.info(`logout: HTTP ${res.status}`);
  } catch (e) {
    p.info(`logout failed: ${(e as Error).message}`);
  }
}
