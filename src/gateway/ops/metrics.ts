/**
 * Prometheus metrics (prom-client), in their own registry (served by the metrics listener and
 * the admin API's /metrics).
 *
 * Two kinds of sources, neither on the per-packet path:
 *   - events (login, auth failure, connect, disconnect, ban, reload): counters incremented by
 *     the control plane, a handful per session;
 *   - counters the data plane already keeps (channel.counters, router.counters): read when
 *     Prometheus scrapes, in `collect()`. Bytes of tunnels that closed are added up from their
 *     `disconnect` events, so totals survive reconnects and session ends.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatCidr } from '../../protocol/ipv4.js';
import { VERSION } from '../../version.js';
import type { GatewayEvent } from './events.js';
import { add, type ChannelName, type OpsStats, type Totals } from './stats.js';
import { sessionCounts, type OtherWorkers } from './worker-metrics.js';
import { addCounters, countersHere, refusedOf, type DataPlaneCounters } from './data-plane-counters.js';
import type { OpsTarget } from './target.js';

/** "idle timeout" -> "idle-timeout": label values from a small fixed set of texts. */
const slug = (s: string): string => s.toLowerCase().replace(/\(.*?\)/g, '').trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  private readonly auth: Counter<'result' | 'reason'>;
  private readonly badRequests: Counter<'reason'>;
  private readonly connects: Counter<'kind' | 'channel'>;
  private readonly disconnects: Counter<'reason'>;
  private readonly ended: Counter<'reason'>;
  private readonly bansTotal: Counter<'kind'>;
  private readonly reloads: Counter<'result'>;
  private readonly dtlsHandshakes: Counter<'mode' | 'result'>;
  private readonly mtu: Histogram<'channel'>;

  /**
   * `others`: workers > 1, worker 0's view of the other workers (worker-metrics.ts), asked before
   * each scrape: their sessions, connections and traffic count here too.
   */
  constructor(private readonly gw: OpsTarget, private readonly stats: OpsStats, readonly others: OtherWorkers | null = null) {
    const registers = [this.registry];
    // process_* and nodejs_* (event-loop lag among them), under their usual names for stock dashboards.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'sslgate_info', help: 'Gateway version (always 1)', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
    this.auth = new Counter({ name: 'sslgate_auth_total', help: 'Login attempts by result and reason', labelNames: ['result', 'reason'], registers });
    this.badRequests = new Counter({ name: 'sslgate_bad_requests_total', help: 'Malformed requests by kind', labelNames: ['reason'], registers });
    this.connects = new Counter({ name: 'sslgate_tunnel_connects_total', help: 'Tunnel connections set up (CONNECT), new or a cookie reconnect', labelNames: ['kind', 'channel'], registers });
    this.disconnects = new Counter({ name: 'sslgate_tunnel_disconnects_total', help: 'Tunnel connections closed, by reason', labelNames: ['reason'], registers });
    this.ended = new Counter({ name: 'sslgate_sessions_ended_total', help: 'Sessions ended (cookie invalidated), by reason', labelNames: ['reason'], registers });
    this.bansTotal = new Counter({ name: 'sslgate_bans_total', help: 'Bans started (address) and user names locked', labelNames: ['kind'], registers });
    this.reloads = new Counter({ name: 'sslgate_reloads_total', help: 'Configuration reloads by result', labelNames: ['result'], registers });
    this.dtlsHandshakes = new Counter({ name: 'sslgate_dtls_handshakes_total', help: 'DTLS handshakes by mode and result', labelNames: ['mode', 'result'], registers });
    this.mtu = new Histogram({ name: 'sslgate_tunnel_mtu_bytes', help: 'Tunnel MTU given to clients at CONNECT', labelNames: ['channel'], buckets: [576, 1000, 1200, 1280, 1300, 1350, 1380, 1400, 1420, 1450, 1500], registers });
    this.scraped(registers);
    this.limitsScraped(registers);
    this.unsubscribe = gw.events.subscribe(this.onEvent);
  }

  private readonly onEvent = (ev: GatewayEvent): void => {
    switch (ev.type) {
      case 'login':
        // The methods' names come from the config (bounded label values): e.g. "corp-ldap+totp".
        this.auth.inc({ result: 'success', reason: ev.methods?.length ? ev.methods.join('+') : 'password' });
        break;
      case 'auth-failure':
        this.auth.inc({ result: 'failure', reason: ev.reason });
        break;
      case 'bad-request':
        this.badRequests.inc({ reason: ev.reason });
        break;
      case 'connect':
        this.connects.inc({ kind: ev.reconnect ? 'reconnect' : 'new', channel: ev.channel });
        this.mtu.observe({ channel: ev.channel }, ev.mtu);
        break;
      case 'disconnect':
        this.disconnects.inc({ reason: ev.reason });
        break;
      case 'session-end':
        this.ended.inc({ reason: slug(ev.reason) });
        break;
      case 'ban':
        this.bansTotal.inc({ kind: ev.kind });
        break;
      case 'reload':
        this.reloads.inc({ result: ev.ok ? 'ok' : 'refused' });
        break;
      case 'dtls-handshake':
        this.dtlsHandshakes.inc({ mode: ev.mode, result: ev.result });
        break;
      default:
        break;
    }
  };

  /** Metrics computed at scrape time. */
  private scraped(registers: Registry[]): void {
    const gw = this.gw;
    const stats = this.stats;
    const others = this.others;
    const counters = (): DataPlaneCounters => this.dataPlane();
    new Gauge({
      name: 'sslgate_sessions',
      help: 'Sessions by group, state (connected = tunnel up) and data channel (workers > 1: every worker that answered, see sslgate_worker_answered)',
      labelNames: ['group', 'state', 'channel'],
      registers,
      collect() {
        this.reset();
        for (const c of sessionCounts(gw.sessions.all())) this.inc({ group: c.group, state: c.state, channel: c.channel }, c.n);
        for (const m of others?.fresh() ?? []) for (const c of m.sessions) this.inc({ group: c.group, state: c.state, channel: c.channel }, c.n);
      },
    });
    new Gauge({
      name: 'sslgate_tls_connections',
      help: 'Open TLS connections (auth and tunnels)',
      registers,
      collect() {
        this.set(gw.tlsConnections + (others?.fresh() ?? []).reduce((n, m) => n + m.tlsConnections, 0));
      },
    });
    if (others) {
      new Gauge({
        name: 'sslgate_worker_answered',
        help: 'workers > 1: 1 when the worker\'s sessions, connections and live traffic are in this scrape; 0 when it did not answer within 3 s (its gauges are left out, its traffic counts with its last answer)',
        labelNames: ['worker'],
        registers,
        collect() {
          this.reset();
          this.set({ worker: '0' }, 1);
          for (const [w, ok] of others.answered) this.set({ worker: String(w) }, ok ? 1 : 0);
        },
      });
    }
    new Gauge({ name: 'sslgate_uptime_seconds', help: 'Seconds since the gateway started', registers, collect() { this.set(Math.round((Date.now() - gw.startedAt) / 1000)); } });
    new Gauge({
      name: 'sslgate_bans',
      help: 'Addresses banned and user names locked now',
      labelNames: ['kind'],
      registers,
      collect() {
        const c = gw.gate.guard.counts();
        this.set({ kind: 'address' }, c.address);
        this.set({ kind: 'user' }, c.user);
      },
    });
    new Counter({
      name: 'sslgate_state_store_errors_total',
      help: 'Session store writes that failed (full disk, store unavailable); tunnels keep running',
      registers,
      collect() {
        this.reset();
        this.inc(counters().storeErrors);
      },
    });
    // issue 12: a cluster node's view (absent on one machine: the series are not there at all).
    if (gw.cluster) {
      const cluster = gw.cluster;
      new Gauge({ name: 'sslgate_cluster_redis_up', help: 'Cluster: 1 while the shared Redis answers', registers, collect() { this.set(cluster.redisUp ? 1 : 0); } });
      new Gauge({ name: 'sslgate_cluster_draining', help: 'Cluster: 1 while this node drains (ctl drain)', registers, collect() { this.set(cluster.draining ? 1 : 0); } });
      new Gauge({
        name: 'sslgate_cluster_node_sessions',
        help: 'Cluster: sessions of each live node, as its last announcement said',
        labelNames: ['node'],
        registers,
        collect() {
          this.reset();
          for (const n of cluster.nodes) this.set({ node: n.node }, n.sessions);
        },
      });
    }
    // A gauge summed over the workers that answered (their leases are disjoint:
    // data-plane-counters.ts); a silent worker's leases are left out like its sessions.
    new Gauge({
      name: 'sslgate_pool_addresses',
      help: 'Addresses of each pool, leased or free (workers > 1: the leases of every worker that answered)',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        const elsewhere = others?.leases();
        for (const p of new Set(gw.pools.values())) {
          const pool = formatCidr(p.subnet);
          // Another worker's rows count only for pools this worker knows (a reload in between may
          // differ); no more than the pool holds (an answer is checked, not believed).
          const leased = Math.min(p.size, p.used + (elsewhere?.get(pool) ?? 0));
          this.set({ pool, state: 'leased' }, leased);
          this.set({ pool, state: 'free' }, p.size - leased);
        }
      },
    });
    // Each worker's own running total (closed + open tunnels, never going down), added up.
    const traffic = (): Record<ChannelName, Totals> => {
      const t = stats.totalsHere();
      if (others) {
        const o = others.traffic();
        add(t.TLS, o.TLS);
        add(t.DTLS, o.DTLS);
      }
      return t;
    };
    const perChannel = (name: string, help: string, pick: Partial<Record<'in' | 'out', (t: Totals) => number>>): void => {
      new Counter({
        name,
        help,
        labelNames: ['direction', 'channel'],
        registers,
        collect() {
          // Computed from data-plane counters: set by reset + inc (a Counter has no set()).
          const totals = traffic();
          this.reset();
          for (const ch of ['TLS', 'DTLS'] as const) {
            for (const [direction, f] of Object.entries(pick)) this.inc({ direction, channel: ch }, f(totals[ch]));
          }
        },
      });
    };
    // direction "in" = from clients into the gateway, "out" = to clients.
    perChannel('sslgate_tunnel_bytes_total', 'Tunnel payload bytes by direction (in = from clients) and channel', { in: (t) => t.rxBytes, out: (t) => t.txBytes });
    perChannel('sslgate_tunnel_packets_total', 'Tunnel packets by direction (in = from clients) and channel', { in: (t) => t.rxPackets, out: (t) => t.txPackets });
    perChannel('sslgate_tunnel_drops_total', 'Packets to clients dropped because the send queue was full', { out: (t) => t.txDrops });
    new Counter({
      name: 'sslgate_tunnel_tls_writes_total',
      help: 'Writes to clients\' TLS sockets; below the TLS packets out when frames went out in runs (one write, one record per frame)',
      registers,
      collect() {
        this.reset();
        this.inc(traffic().TLS.txWrites);
      },
    });
    new Counter({
      name: 'sslgate_router_packets_total',
      help: 'TUN-side packets: read from the TUN, or dropped by the router (no session, spoofed source, TUN write error)',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        if (!gw.routerCounters) return;
        const c = counters();
        this.inc({ result: 'tun-read' }, c.tunRead);
        this.inc({ result: 'no-route' }, c.noRoute);
        this.inc({ result: 'spoofed' }, c.spoofed);
        this.inc({ result: 'tun-write-error' }, c.tunWriteErrors);
      },
    });
    new Counter({
      name: 'sslgate_tun_reads_total',
      help: 'TUN reads by kind: super-packets from the kernel (offloads on) and the packets cut from them; reads dropped as malformed or too long',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        if (!gw.tunCounters) return;
        const c = counters();
        this.inc({ result: 'super-packet' }, c.superPackets);
        this.inc({ result: 'segment' }, c.segments);
        this.inc({ result: 'malformed' }, c.malformed);
        this.inc({ result: 'truncated' }, c.truncated);
      },
    });
    new Counter({
      name: 'sslgate_tun_gro_writes_total',
      help: 'Write-side GRO: client TCP segments merged into one TUN write (writes), and the segments they carried (segments); offloads on only',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        if (!gw.tunCounters) return;
        const c = counters();
        this.inc({ result: 'writes' }, c.groWrites);
        this.inc({ result: 'segments' }, c.groSegments);
      },
    });
    new Counter({
      name: 'sslgate_refused_connections_total',
      help: 'TCP connections closed before TLS: banned address, over its connection rate, or over the unauthenticated connections of its address or in total',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(refusedOf(counters()))) this.inc({ reason }, n);
      },
    });
  }

  /** What the attack-facing limits did (issue 9): read at scrape time from their own counters. */
  private limitsScraped(registers: Registry[]): void {
    const gw = this.gw;
    const others = this.others;
    const counters = (): DataPlaneCounters => this.dataPlane();
    new Gauge({
      name: 'sslgate_unauthenticated_connections',
      help: 'Connections that are not a tunnel yet (before CONNECT)',
      registers,
      collect() {
        this.set(gw.gate.unauth.count() + (others?.fresh() ?? []).reduce((n, m) => n + m.unauthenticated, 0));
      },
    });
    new Counter({
      name: 'sslgate_auth_deadline_expired_total',
      help: 'Connections closed because limits.auth-timeout passed before CONNECT',
      registers,
      collect() {
        this.reset();
        this.inc(counters().authDeadlineExpired);
      },
    });
    new Counter({
      name: 'sslgate_dtls_listener_total',
      help: 'DTLS listener events: datagrams from unknown peers, ClientHellos refused by the handshake limits, live associations replaced by a completed new handshake; batched receive: recvmmsg batches, UDP GRO trains, messages dropped unread; workers > 1: ClientHellos passed on for another worker (hello-forwarded) and peer sockets a worker adopted (peer-adopted)',
      labelNames: ['event'],
      registers,
      collect() {
        this.reset();
        if (!gw.dtlsCounters) return;
        const c = counters();
        this.inc({ event: 'unknown-peer' }, c.dtlsUnknownPeer);
        this.inc({ event: 'handshake-refused' }, c.dtlsHandshakesRefused);
        this.inc({ event: 'association-replaced' }, c.dtlsReplaced);
        this.inc({ event: 'rx-batch' }, c.dtlsRxBatches);
        this.inc({ event: 'rx-gro-train' }, c.dtlsRxGroTrains);
        this.inc({ event: 'rx-dropped' }, c.dtlsRxDropped);
        if (others) {
          this.inc({ event: 'hello-forwarded' }, c.dtlsForwardedHellos);
          this.inc({ event: 'peer-adopted' }, c.dtlsAdoptedPeers);
        }
      },
    });
  }

  /**
   * The data-plane counters (router, TUN, DTLS listener, auth deadlines, refusals, store errors) of every worker, added up:
   * their events are disjoint (data-plane-counters.ts); a silent worker counts with its last answer.
   */
  dataPlane(): DataPlaneCounters {
    const c = countersHere(this.gw);
    if (this.others) addCounters(c, this.others.counters());
    return c;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** workers > 1: the other workers are asked first (at most 3 s: priv/ctl-relay.ts). */
  async text(): Promise<string> {
    await this.others?.refresh();
    return this.registry.metrics();
  }

  close(): void {
    this.unsubscribe();
    this.registry.clear();
  }
}
