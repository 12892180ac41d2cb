/**
 * The network process gives up root, for good, once its sockets are bound: no_new_privs and an
 * empty bounding set (native lockDown), no supplementary groups, then gid and uid. Leaving uid
 * 0 for another uid clears the permitted and effective capability sets (capabilities(7), "Effect
 * of user ID changes"). Then it checks /proc/self/status that nothing is left: a gateway that
 * believes it dropped root but did not must not start.
 */
import { lockDownProcess } from '../../os/tun.js';
import { readProcStatus } from '../../os/proc-status.js';
import type { RunAs } from './run-as.js';

export class PrivilegeDropError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrivilegeDropError';
  }
}

export function dropPrivileges(to: RunAs): void {
  const { setgroups, setgid, setuid } = process;
  // Node defines these on POSIX only; the gateway runs on Linux.
  if (!setgroups || !setgid || !setuid) throw new PrivilegeDropError('this platform cannot change user ids');
  lockDownProcess();
  setgroups([to.gid]);
  setgid(to.gid);
  setuid(to.uid);
  const st = readProcStatus('self');
  const problems: string[] = [];
  if (st.uid.some((u) => u !== to.uid)) problems.push(`uids are ${st.uid.join('/')}`);
  if (st.gid.some((g) => g !== to.gid)) problems.push(`gids are ${st.gid.join('/')}`);
  if (st.groups.some((g) => g !== to.gid)) problems.push(`supplementary groups ${st.groups.join(',')}`);
  if (st.capEff !== 0n || st.capPrm !== 0n || st.capAmb !== 0n) problems.push(`capabilities left (eff ${st.capEff.toString(16)}, prm ${st.capPrm.toString(16)}, amb ${st.capAmb.toString(16)})`);
  if (!st.noNewPrivs) problems.push('no_new_privs is not set');
  if (problems.length) throw new PrivilegeDropError(`giving up root to ${to.user}:${to.group} failed: ${problems.join('; ')}`);
}
