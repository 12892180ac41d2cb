/** Every fuzz target, in the order `npm run fuzz` runs them. */
import { authXmlClient, authXmlGateway, xml } from './auth-xml.js';
import { clientOptions } from './client-options.js';
import { config } from './config.js';
import { connectHeaders } from './connect-headers.js';
import { cstp } from './cstp.js';
import { dtlsClient, dtlsServer } from './dtls-endpoints.js';
import { dtlsMessages } from './dtls-messages.js';
import { httpRequest, httpResponse } from './http.js';
import { nativeRecord } from './native-record.js';
import { nativeUdpRx } from './native-udp-rx.js';
import { privChannel } from './priv-channel.js';
import { radius } from './radius.js';
import { profile } from './profile.js';
import type { FuzzTarget } from './target.js';

export const TARGETS: readonly FuzzTarget[] = [
  clientOptions,
  httpRequest, httpResponse, connectHeaders, cstp, xml, authXmlGateway, authXmlClient, profile,
  dtlsMessages, dtlsServer, dtlsClient, nativeRecord, nativeUdpRx, config, privChannel, radius,
];

export function findTarget(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  return t;
}
