/**
 * The YAML config loader (src/gateway/config.ts parseConfigText): any text is a config or a
 * ConfigError naming the key, never another exception. Config files are trusted more than
 * network input, but a typo must still get a clear message, and the admin API reloads them.
 */
import { ConfigError, DEFAULT_YAML, parseConfigText } from '../../src/gateway/config.js';
import { allowing, check, type FuzzTarget } from './target.js';

export const config: FuzzTarget = {
  name: 'config',
  description: 'YAML gateway config loader (parseConfigText)',
  maxLen: 4096,
  covers: ['/dist/src/gateway/config', '/dist/src/protocol/ipv4', '/node_modules/yaml/'],
  dictionary: ['\n', '  ', '- ', ': ', 'listen: ', 'tls:\n  cert: ', 'state: ', 'network:\n  address: ', '10.0.0.1/24', 'dns: [', ']', 'groups:\n  - name: ', 'label: ', 'routes: ', 'dtls: ', 'limits:\n  ', 'auth-timeout: ', 'max-unauth-per-address: ', 'mtu: ', 'dpd: ', 'idle-timeout: ', 'banner: ', 'profile: ', 'auth: ', 'admin: ', 'metrics: ', 'true', 'null', '&a ', '*a', '!!binary ', '{', '}', '"', "'", '#', '0x', '1e9', '-1', '65536', '::1'],
  seeds: () => [Buffer.from(DEFAULT_YAML)],
  run(data) {
    // A problem goes into the ConfigError, not to stderr as a Node process warning.
    let warned: string | null = null;
    const emitWarning = process.emitWarning;
    process.emitWarning = ((w: string | Error) => void (warned = String(w))) as typeof process.emitWarning;
    let cfg;
    try {
      cfg = allowing([ConfigError], () => parseConfigText(data.toString('utf8'), 'fuzz.yaml', '/nonexistent', null));
    } finally {
      process.emitWarning = emitWarning;
    }
    check(warned === null, `the loader emitted a process warning: ${warned}`);
    if (cfg) {
      check(Number.isInteger(cfg.listen.port) && cfg.listen.port >= 0 && cfg.listen.port <= 65535, `listen port ${cfg.listen.port}`);
      check(cfg.groups.length > 0, 'a config without groups');
    }
  },
};
