/**
 * run-as-user / run-as-group (ocserv's names) resolved to numbers, through getent so that users
 * from NSS (LDAP, sssd) work like those in /etc/passwd. Numbers are taken as they are.
 */
import { execFileSync } from 'node:child_process';

export interface RunAs {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

export class RunAsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunAsError';
  }
}

function getent(db: 'passwd' | 'group', name: string): string[] | null {
  try {
    const out = execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    const line = out.split('\n')[0] ?? '';
    return line ? line.split(':') : null;
  } catch {
    return null; // exit 2: no such entry
  }
}

export function resolveRunAs(user: string, group: string): RunAs {
  let uid: number;
  if (/^\d+$/.test(user)) uid = Number(user);
  else {
    const pw = getent('passwd', user);
    if (!pw || !/^\d+$/.test(pw[2] ?? '')) throw new RunAsError(`run-as-user: there is no user ${JSON.stringify(user)} on this system (getent passwd ${user}); create it or name another`);
    uid = Number(pw[2]);
  }
  let gid: number;
  if (/^\d+$/.test(group)) gid = Number(group);
  else {
    const gr = getent('group', group);
    if (!gr || !/^\d+$/.test(gr[2] ?? '')) throw new RunAsError(`run-as-group: there is no group ${JSON.stringify(group)} on this system (getent group ${group}); create it or name another`);
    gid = Number(gr[2]);
  }
  if (uid === 0) throw new RunAsError(`run-as-user: ${user} is uid 0 (root); the network-facing process must not keep root`);
  if (gid === 0) throw new RunAsError(`run-as-group: ${group} is gid 0 (root); pick an unprivileged group`);
  return { user, group, uid, gid };
}
