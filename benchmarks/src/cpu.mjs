// CPU time of process trees, read from /proc (Linux), for the CPU each system spends per run
// in the throughput workloads: the driver with everything it started, and PostgreSQL.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

function statOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      parent: Number(fields[1]),
      // utime, stime, and the times of children already exited and waited for.
      own: Number(fields[11]) + Number(fields[12]),
      reaped: Number(fields[13]) + Number(fields[14]),
    };
  } catch {
    return undefined; // exited meanwhile
  }
}

/**
 * Milliseconds of CPU used so far by `rootPid` and all its descendants, living or exited
 * (an exited child's time is in its parent's `reaped`, once the parent has waited for it).
 */
export function treeCpuMs(rootPid) {
  const stats = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  let ticks = 0;
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop();
    const stat = stats.get(pid);
    if (!stat) continue;
    ticks += stat.own + stat.reaped;
    for (const [child, childStat] of stats) if (childStat.parent === pid) pending.push(child);
  }
  return (ticks * 1000) / ticksPerSecond;
}

/** The PostgreSQL server's process id, from its data directory's `postmaster.pid`. */
export async function postmasterPid(admin) {
  const directory = (await admin.query('SHOW data_directory')).rows[0].data_directory;
  return Number(readFileSync(`${directory}/postmaster.pid`, 'utf8').split('\n')[0]);
}
