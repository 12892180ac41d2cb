/**
 * More client namespaces for one gateway: several openconnect clients, each with its own
 * namespace, TUN, routes and resolv.conf (vpnc-script configures one client per namespace).
 *
 * Each extra namespace is the client side of a testbed of its own (netns.ts: unique names,
 * cleanup on exit, swept after a crash); its testbed's gateway namespace stays idle. A second
 * veth joins it to the gateway's namespace on 10.78.<slot>.0/30 (slot: unique among live
 * testbeds, so no two links clash), with a host route to the gateway's listening address, which
 * lives on the gateway testbed's own veth: the gateway accepts it on any interface.
 */
import { createTestbed, execIn, type Ns } from './netns.js';

export interface ClientNs {
  ns: Ns;
  close(): Promise<void>;
}

export async function addClientNamespace(gwNs: Ns, gwAddr: string, tag: string): Promise<ClientNs> {
  const tb = await createTestbed({ tag });
  try {
    const gw = gwNs.name;
    const cl = tb.cl.name;
    const gIf = `sgx${tb.slot}g`;
    const cIf = `sgx${tb.slot}c`;
    const ip = async (args: string[]): Promise<void> => void (await execIn(null, 'ip', args, { check: true, timeoutMs: 10_000 }));
    await ip(['link', 'add', gIf, 'netns', gw, 'type', 'veth', 'peer', 'name', cIf, 'netns', cl]);
    await ip(['-n', gw, 'addr', 'add', `10.78.${tb.slot}.1/30`, 'dev', gIf]);
    await ip(['-n', cl, 'addr', 'add', `10.78.${tb.slot}.2/30`, 'dev', cIf]);
    await ip(['-n', gw, 'link', 'set', gIf, 'up']);
    await ip(['-n', cl, 'link', 'set', cIf, 'up']);
    await ip(['-n', cl, 'route', 'add', `${gwAddr}/32`, 'via', `10.78.${tb.slot}.1`, 'dev', cIf]);
    if (!(await tb.cl.ping(gwAddr, { timeoutMs: 5000 }))) throw new Error(`${cl}: no answer from the gateway at ${gwAddr} over ${cIf}`);
    // Deleting the namespaces (testbed cleanup) deletes the extra veth with them.
    return { ns: tb.cl, close: () => tb.cleanup() };
  } catch (e) {
    await tb.cleanup();
    throw e;
  }
}
