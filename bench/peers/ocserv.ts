/**
 * The reference gateway: Debian's ocserv through test/helpers/ocserv.ts (lab configuration),
 * with the benchmark's certificate, pool and client limit, moved to the gateway CPU.
 */
import { startOcserv, type OcservServer } from '../../test/helpers/ocserv.js';
import type { Ns } from '../../test/helpers/netns.js';
import { netnsPids } from '../lib/proc.js';
import { pinPid } from '../lib/pinning.js';
import type { BenchPki } from './pki.js';

export interface OcservBenchOptions {
  listenHost: string;
  /** pool CIDR, e.g. 10.100.7.0/24; ocserv takes the first address for itself */
  pool: string;
  user: string;
  password: string;
  pki: BenchPki;
  cpus: string | null;
  maxClients?: number;
}

export interface OcservUnderTest {
  server: OcservServer;
  url: string;
  pin: string;
  tunAddr: string;
  stop(): Promise<void>;
}

export async function startRefOcserv(ns: Ns, o: OcservBenchOptions): Promise<OcservUnderTest> {
  const server = await startOcserv(ns, {
    listenHost: o.listenHost,
    ipv4Network: o.pool,
    routes: [o.pool],
    users: [{ name: o.user, password: o.password, groups: ['Employees', 'Contractors'] }],
    // ocserv's defaults (as Debian ships them): PSK-NEGOTIATE and legacy DTLS both on.
    dtlsPsk: true,
    dtlsLegacy: true,
    pki: o.pki.pki,
    // Later lines win in ocserv's config: this overrides the helper's max-clients = 16.
    extraConfig: [`max-clients = ${o.maxClients ?? 64}`],
    // The helper's default -d 2: it waits for a line only that level prints; a few lines per
    // session, about what our gateway logs at info.
  });
  // main and sec-mod exist now; workers are forked from main later and inherit its affinity.
  for (const pid of netnsPids(ns.name)) pinPid(pid, o.cpus);
  return {
    server,
    url: server.url,
    pin: server.pin,
    tunAddr: server.tunAddr,
    stop: () => server.stop(),
  };
}
