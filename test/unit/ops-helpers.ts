/**
 * A fake gateway for the operations unit tests that are about formatting (metrics exposition,
 * ctl tables): real SessionStore, BanGuard and events, sessions with fake channels whose counters
 * the test sets, no sockets and no TUN. What the admin API answers is tested against a running
 * gateway (test/interop/gateway-admin-api.test.ts), not against this.
 */
import { BanGuard } from '../../src/gateway/ban-guard.js';
import { parseConfigText, type GatewayConfig } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { GatewayEvents } from '../../src/gateway/ops/events.js';
import type { OpsTarget } from '../../src/gateway/ops/target.js';
import type { ReloadResult } from '../../src/gateway/reload.js';
import { SessionStore, type Session } from '../../src/gateway/sessions.js';
import { SessionTunnel } from '../../src/gateway/session-tunnel.js';
import type { ChannelCloseReason, ChannelCounters, CstpChannel } from '../../src/tunnel/cstp-channel.js';

export class FakeChannel {
  readonly counters: ChannelCounters = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDrops: 0, rxControl: 0, txWrites: 0 };
  closed: ChannelCloseReason | null = null;
  constructor(private readonly onClose: (why: ChannelCloseReason) => void) {}
  destroy(why: ChannelCloseReason): void {
    this.closed = why;
    this.onClose(why);
  }
  finish(_frame: Buffer | null, why: ChannelCloseReason): void {
    this.destroy(why);
  }
}

export class FakeGateway implements OpsTarget {
  readonly sessions = new SessionStore();
  readonly events = new GatewayEvents();
  readonly startedAt = Date.now() - 65_000;
  readonly gate: { guard: BanGuard; refused: Record<string, number>; unauth: { expired: number; count(): number } };
  readonly dtlsCounters = { rxDatagrams: 0, unknownPeer: 3, handshakesStarted: 0, handshakesOk: 0, handshakesFailed: 0, handshakesRefused: 2, replaced: 1, rxBatches: 0, rxGroTrains: 0, rxDropped: 0, forwardedHellos: 0, adoptedPeers: 0 };
  readonly pools = new Map<string, IpPool>();
  routerCounters = { tunRxPackets: 5, noRoute: 1, spoofed: 0, tunWriteErrors: 0 };
  tunCounters = { malformed: 0, superPackets: 3, segments: 90, groWrites: 2, groSegments: 40, truncated: 0, vnetHdr: true };
  tlsConnections = 2;
  currentConfig: GatewayConfig;
  ended: Array<[number, string]> = [];

  constructor() {
    this.currentConfig = parseConfigText('network: {address: 10.50.0.1/24, routes: [10.50.0.0/24]}\n', 'test', '/tmp', '/tmp/gw.yaml');
    this.gate = { guard: new BanGuard(this.currentConfig.ban, (e) => this.events.emit(e)), refused: { banned: 0, 'rate-limit': 0, 'unauth-per-address': 0, 'unauth-total': 0 }, unauth: { expired: 4, count: () => 5 } };
    this.pools.set('default', new IpPool(this.currentConfig.network.address));
  }

  /** A logged-in session with a tunnel up (fake channel) at the next free address. */
  connect(user: string, remote = '10.77.0.2'): Session & { fake: FakeChannel } {
    const pool = this.pools.get('default')!;
    const s = this.sessions.create(user, this.currentConfig.groups[0]!, pool, remote, 'Open AnyConnect VPN Agent v9.01');
    s.leased(pool.lease(s.cookieHash)!);
    const fake = new FakeChannel(() => {
      s.tunnelClosed(tunnel, 0, 0, Date.now());
    });
    const tunnel = new SessionTunnel(fake as unknown as CstpChannel);
    s.bindTunnel(tunnel, '', Date.now());
    s.link = { remote, since: Date.now(), protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', mtu: 1399, connects: 1 };
    return Object.assign(s, { fake });
  }

  endSession(s: Session, why: string): void {
    this.ended.push([s.id, why]);
    s.channel?.finish(null, { kind: 'local', text: why });
    this.sessions.remove(s);
    this.events.emit({ type: 'session-end', session: s.id, user: s.user, reason: why });
  }

  /** Not faked: reload is tested against a running gateway (test/interop/gateway-admin-api.test.ts). */
  reload(): Promise<ReloadResult> {
    return Promise.reject(new Error('FakeGateway does not reload; test reload against a real gateway'));
  }
}
