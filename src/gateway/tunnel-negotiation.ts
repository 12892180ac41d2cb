/**
 * Step 5, the decision half (pure, no I/O): from a CONNECT request, the session's group and
 * limits, the leased address and the TLS connection's protocol and cipher, what the gateway
 * answers — the X-CSTP-* values openconnect needs (PROTOCOL.md §4.3, §10.1 item 7), the MTUs
 * (§6.9) and, when DTLS is on and the client offers a mode we run, the X-DTLS-* headers with a
 * fresh id (§6.2, quirk 44). tunnel-setup.ts binds the result to sockets.
 */
import type { ConnectRequest, TunnelParams } from '../protocol/connect-headers.js';
import { formatCidrDottedMask, formatIpv4, parseIpv4Cidr } from '../protocol/ipv4.js';
import type { SessionAttributes } from './auth/types.js';
import { dtlsDataMtu, negotiateLinkMtu, tlsCipherOverhead, tlsDataMtu } from '../protocol/mtu.js';
import { PRODUCT, VERSION } from '../version.js';
import type { GatewayConfig, GroupConfig } from './config.js';
import { chooseDtlsOffer, dtlsResponseHeaders, offerOverhead, type DtlsOffer } from './dtls-offer.js';
import type { SessionLimits } from './sessions.js';

export interface TunnelNegotiationInput {
  config: GatewayConfig;
  request: ConnectRequest;
  group: GroupConfig;
  /** the session's own limits (fixed at login: a reload does not change a live session) */
  limits: SessionLimits;
  /** what the auth backend set (routes, DNS) */
  attrs?: SessionAttributes;
  /** what the auth servers said at login (Reply-Message), added to the banner */
  loginMessages?: string[];
  address: number;
  netmask: string;
  /** the TLS connection carrying the tunnel: `getProtocol()`, the cipher's standard name */
  tls: { protocol: string | undefined; cipher: string | undefined };
  /** whether the gateway listens for DTLS at all */
  dtlsOn: boolean;
  /** 32 random bytes: the DTLS session id / App-ID, if a mode is chosen */
  dtlsId: Buffer;
}

export interface TunnelNegotiation {
  params: TunnelParams;
  /** the DTLS mode chosen, or null (the tunnel stays on TLS) */
  offer: DtlsOffer | null;
  /** link MTU agreed from X-CSTP-Base-MTU and the gateway's `mtu` */
  linkMtu: number;
  /** data MTU over TLS for this connection's cipher (before the DTLS clamp of params.mtu) */
  tlsMtu: number;
}

export function negotiateTunnel(i: TunnelNegotiationInput): TunnelNegotiation {
  const { config: cfg, request: creq, group } = i;
  const linkMtu = negotiateLinkMtu(cfg.mtu, creq.baseMtu);
  const tlsMtu = tlsDataMtu(linkMtu, tlsCipherOverhead(i.tls.protocol, i.tls.cipher));
  const net = group.network;
  const params: TunnelParams = {
    address: formatIpv4(i.address),
    netmask: i.netmask,
    serverName: `${PRODUCT} ${VERSION}`,
    // DNS servers from the auth backend (MS-Primary/Secondary-DNS-Server) replace the group's.
    dns: i.attrs?.dns?.length ? i.attrs.dns : net.dns,
    nbns: [],
    splitDns: net.splitDns,
    // Framed-Route adds split-include routes to the group's (RFC 2865 §5.22).
    splitInclude: [...net.routes.map(formatCidrDottedMask), ...(i.attrs?.routes ?? []).flatMap((r) => { const c = parseIpv4Cidr(r); return c ? [formatCidrDottedMask(c)] : []; })],
    splitExclude: net.splitExclude.map(formatCidrDottedMask),
    splitIncludeIp6: [],
    splitExcludeIp6: [],
    dpd: cfg.dpd,
    keepalive: cfg.keepalive,
    idleTimeout: i.limits.idleTimeout,
    sessionTimeout: i.limits.sessionTimeout,
    disconnectedTimeout: cfg.cookieTimeout,
    // Rekey by a new tunnel once a day (what ASA sends). "none" is refused by Secure Client 5.1
    // and TLS 1.3 cannot renegotiate (§8.4, quirk 25).
    rekeyMethod: 'new-tunnel',
    rekeyTime: 86400,
    mtu: tlsMtu,
    baseMtu: linkMtu,
    tunnelAllDns: false,
    extra: [],
  };
  if (creq.hostname) params.hostname = creq.hostname;
  if (net.defaultDomain) params.defaultDomain = net.defaultDomain;
  // openconnect shows X-CSTP-Banner (vpnc-script prints CISCO_BANNER), not the <banner> of the
  // auth-complete: the login's messages go here too.
  const banner = [group.banner ?? cfg.banner, ...(i.loginMessages ?? [])].filter((x): x is string => !!x).join('\n');
  if (banner) params.banner = banner;

  // DTLS (step 6): the keys travel in this exchange.
  const offer = i.dtlsOn ? chooseDtlsOffer(creq, { allow3des: cfg.dtls.allow3des }) : null;
  if (offer) {
    params.extra.push(...dtlsResponseHeaders({ offer, id: i.dtlsId, port: cfg.dtls.port, dpd: cfg.dpd, keepalive: cfg.keepalive, linkMtu }));
    // openconnect sizes its TUN to max(X-CSTP-MTU, X-DTLS-MTU): keep the CSTP value within the
    // DTLS one so a full-size packet also fits one DTLS record in the link MTU (§6.9).
    params.mtu = Math.min(params.mtu, dtlsDataMtu(linkMtu, offerOverhead(offer)));
  }
  return { params, offer, linkMtu, tlsMtu };
}
