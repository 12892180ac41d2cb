/**
 * The vpnc-script environment (openconnect `script.c` prepare_script_env) from ocserv's CONNECT
 * answer in shared/reference/transcripts/ocserv-tls-only.txt, and the runner's handling of
 * stale variables and failures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConnectResponse } from '../../src/protocol/connect-headers.js';
import { HttpHeaders } from '../../src/protocol/http.js';
import { vpncScriptEnv } from '../../src/client/vpnc-env.js';
import { isScriptVariable, runVpncScript } from '../../src/os/vpnc-script.js';

const OCSERV_CONNECT = `X-CSTP-Version: 1
X-CSTP-Server-Name: ocserv 1.1.6
X-CSTP-Hostname: vm
X-CSTP-DPD: 90
X-CSTP-Default-Domain: lab.test
X-CSTP-Address: 192.168.77.50
X-CSTP-Netmask: 255.255.255.0
X-CSTP-DNS: 192.168.77.1
X-CSTP-Split-Include: 192.168.77.0/255.255.255.0
X-CSTP-Tunnel-All-DNS: false
X-CSTP-Keepalive: 32400
X-CSTP-Idle-Timeout: none
X-CSTP-Rekey-Time: 172783
X-CSTP-Rekey-Method: ssl
X-CSTP-Session-Timeout: 0
X-CSTP-Disconnected-Timeout: none
X-CSTP-Base-MTU: 1500
X-CSTP-MTU: 1472
X-CSTP-Banner: Welcome to the AnyConnect interop lab (ocserv)`;

function headers(text: string): HttpHeaders {
  return new HttpHeaders(text.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

test('connect env from the ocserv transcript answer', () => {
  const params = parseConnectResponse(headers(OCSERV_CONNECT));
  const env = vpncScriptEnv({ reason: 'connect', tundev: 'tun0', gateway: '10.77.0.1', pid: 1234, logLevel: 1, params, mtu: 1472, cstpOptions: [['DPD', '90'], ['MTU', '1472']] });
  assert.deepEqual(env, {
    reason: 'connect',
    VPNGATEWAY: '10.77.0.1',
    VPNPID: '1234',
    TUNDEV: 'tun0',
    LOG_LEVEL: '1',
    CISCO_BANNER: 'Welcome to the AnyConnect interop lab (ocserv)',
    INTERNAL_IP4_MTU: '1472',
    INTERNAL_IP4_ADDRESS: '192.168.77.50',
    INTERNAL_IP4_NETADDR: '192.168.77.0',
    INTERNAL_IP4_NETMASK: '255.255.255.0',
    INTERNAL_IP4_NETMASKLEN: '24',
    INTERNAL_IP4_DNS: '192.168.77.1',
    CISCO_DEF_DOMAIN: 'lab.test',
    CISCO_SPLIT_INC: '1',
    CISCO_SPLIT_INC_0_ADDR: '192.168.77.0',
    CISCO_SPLIT_INC_0_MASK: '255.255.255.0',
    CISCO_SPLIT_INC_0_MASKLEN: '24',
    CISCO_CSTP_OPTIONS: 'DPD=90\nMTU=1472\n',
  });
});

test('pre-init has only the basics; IPv6, excludes, split DNS, several DNS servers', () => {
  assert.deepEqual(vpncScriptEnv({ reason: 'pre-init', tundev: '', gateway: '10.0.0.1', pid: 7, logLevel: 0 }), {
    reason: 'pre-init',
    VPNGATEWAY: '10.0.0.1',
    VPNPID: '7',
    TUNDEV: '',
    LOG_LEVEL: '0',
  });
  const params = parseConnectResponse(
    headers(
      [
        'X-CSTP-Address: 10.1.2.3',
        'X-CSTP-Netmask: 255.255.0.0',
        'X-CSTP-Address-IP6: fd00:99::3/64',
        'X-CSTP-DNS: 10.1.0.1',
        'X-CSTP-DNS: 10.1.0.2',
        'X-CSTP-DNS: fd00:99::1',
        'X-CSTP-DNS: 10.1.0.4',
        'X-CSTP-Split-DNS: corp.example',
        'X-CSTP-Split-DNS: lab.example',
        'X-CSTP-Split-Include: 10.0.0.0/8',
        'X-CSTP-Split-Include-IP6: fd00::/8',
        'X-CSTP-Split-Exclude: 0.0.0.0/255.255.255.255',
        'X-CSTP-Idle-Timeout: 1800',
        'X-CSTP-MTU: 1400',
      ].join('\n'),
    ),
  );
  const env = vpncScriptEnv({ reason: 'reconnect', tundev: 'vpn0', gateway: '192.0.2.1', pid: 1, logLevel: 2, params });
  assert.equal(env['INTERNAL_IP4_DNS'], '10.1.0.1 10.1.0.2 fd00:99::1', 'first three, either family (openconnect)');
  assert.equal(env['INTERNAL_IP6_ADDRESS'], 'fd00:99::3');
  assert.equal(env['INTERNAL_IP6_NETMASK'], 'fd00:99::3/64');
  assert.equal(env['INTERNAL_IP4_NETADDR'], '10.1.0.0');
  assert.equal(env['CISCO_SPLIT_DNS'], 'corp.example,lab.example');
  assert.equal(env['CISCO_SPLIT_INC_0_MASK'], '255.0.0.0');
  assert.equal(env['CISCO_SPLIT_INC_0_MASKLEN'], '8');
  assert.equal(env['CISCO_IPV6_SPLIT_INC'], '1');
  assert.equal(env['CISCO_IPV6_SPLIT_INC_0_ADDR'], 'fd00::');
  assert.equal(env['CISCO_IPV6_SPLIT_INC_0_MASKLEN'], '8');
  assert.equal(env['CISCO_SPLIT_EXC'], '1');
  assert.equal(env['CISCO_SPLIT_EXC_0_MASKLEN'], '32');
  assert.equal(env['IDLE_TIMEOUT'], '1800');
  assert.equal(env['INTERNAL_IP4_MTU'], '1400');
});

test('runner: stale VPN variables are not inherited; output and failures are reported', async () => {
  assert.ok(isScriptVariable('CISCO_SPLIT_INC_3_ADDR') && isScriptVariable('reason') && !isScriptVariable('PATH'));
  const lines: string[] = [];
  await runVpncScript('echo "$reason $TUNDEV ${CISCO_SPLIT_INC:-unset} $PATH_OK"', { reason: 'connect', TUNDEV: 'tun9' }, {
    baseEnv: { PATH: process.env['PATH'], CISCO_SPLIT_INC: '5', PATH_OK: 'yes' },
    onLine: (l) => lines.push(l),
  });
  assert.deepEqual(lines, ['connect tun9 unset yes']);
  await assert.rejects(
    runVpncScript('echo oops >&2; exit 3', { reason: 'disconnect' }, { baseEnv: { PATH: process.env['PATH'] } }),
    /\(disconnect\) exited with 3: oops/,
  );
});
