/**
 * route-interface.ts: the interface that carries the gateway connection, from /proc/net/route
 * (IPv4, longest prefix, then metric) and /proc/net/if_inet6 (IPv6 local address), for the
 * X-CSTP-Base-MTU when os.networkInterfaces() misses a link that is not yet "running".
 * Fixtures are this file's format on a little-endian machine (x86-64, arm64), as CI runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressInterfaceIpv6, routeInterfaceIpv4 } from '../../src/client/route-interface.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';
const ROUTES = [
  HEADER,
  'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0', // default via 192.0.2.1, metric 100
  'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0', // default via 192.168.1.1, metric 600
  'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0', // 192.0.2.0/24
  'sgv7c\t00074D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0', // 10.77.7.0/24
  'tun0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0', // 10.77.0.0/16
  'down0\t00084D0A\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0', // 10.77.8.0/24, not RTF_UP
].join('\n');

test('routeInterfaceIpv4: most specific up route, then lowest metric', () => {
  assert.equal(routeInterfaceIpv4(ROUTES, '10.77.7.1'), 'sgv7c');
  assert.equal(routeInterfaceIpv4(ROUTES, '::ffff:10.77.7.1'), 'sgv7c');
  assert.equal(routeInterfaceIpv4(ROUTES, '10.77.9.1'), 'tun0');
  assert.equal(routeInterfaceIpv4(ROUTES, '10.77.8.1'), 'tun0', 'a route that is not up is skipped');
  assert.equal(routeInterfaceIpv4(ROUTES, '192.0.2.9'), 'eth0');
  assert.equal(routeInterfaceIpv4(ROUTES, '198.51.100.1'), 'eth0', 'default route with the lower metric');
});

test('routeInterfaceIpv4: garbage and other formats give undefined, never a throw', () => {
  assert.equal(routeInterfaceIpv4('', '10.0.0.1'), undefined);
  assert.equal(routeInterfaceIpv4('not the route file\neth0 00000000', '10.0.0.1'), undefined);
  assert.equal(routeInterfaceIpv4(`${HEADER}\neth0\tZZZZ\t0\t1\t0\t0\t0\t00000000`, '10.0.0.1'), undefined);
  assert.equal(routeInterfaceIpv4(ROUTES, 'vpn.example.com'), undefined);
  assert.equal(routeInterfaceIpv4(ROUTES, '300.1.1.1'), undefined);
  assert.equal(routeInterfaceIpv4(`${HEADER}\n${'x\t'.repeat(100000)}`, '10.0.0.1'), undefined);
});

test('addressInterfaceIpv6: local address to interface name', () => {
  const text = ['00000000000000000000000000000001 01 80 10 80       lo', 'fe8000000000000000fc00fffe000001 04 40 20 80     eth0', '20010db8000000000000000000000002 05 40 00 80   sgv9c'].join('\n');
  assert.equal(addressInterfaceIpv6(text, '2001:db8::2'), 'sgv9c');
  assert.equal(addressInterfaceIpv6(text, 'fe80::fc:ff:fe00:1%eth0'), 'eth0');
  assert.equal(addressInterfaceIpv6(text, '::1'), 'lo');
  assert.equal(addressInterfaceIpv6(text, '2001:db8::3'), undefined);
  assert.equal(addressInterfaceIpv6(text, '1:2:3'), undefined);
  assert.equal(addressInterfaceIpv6(text, '1::2::3'), undefined);
  assert.equal(addressInterfaceIpv6('garbage', '::1'), undefined);
});
