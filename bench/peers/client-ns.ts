/**
 * More client namespaces for one lab's gateway (test/helpers/client-ns.ts does the work: its own
 * namespace, TUN, routes and resolv.conf per openconnect client).
 */
import { addClientNamespace as addTo, type ClientNs } from '../../test/helpers/client-ns.js';
import type { Lab } from './lab.js';

export type { ClientNs };

export function addClientNamespace(lab: Lab, tag: string): Promise<ClientNs> {
  return addTo(lab.tb.gw, lab.tb.gwAddr, tag);
}
