/** CPU time of the processes a benchmark measures, from /proc (Linux). */
import fs from 'node:fs';

/** Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
export const statFields = (pid: number | string) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/**
 * CPU time a whole PostgreSQL cluster has used so far: the postmaster, its live children (backends,
 * WAL writer, checkpointer…) and, through the postmaster's cutime/cstime, the children that exited.
 */
export function clusterCpuMs(postmasterPid: number): number {
  const own = statFields(postmasterPid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = statFields(entry);
      if (Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // the process exited between readdir and read
    }
  }
  return ticks * TICK_MS;
}

/** CPU time (user + system) of this process's children that have exited and been waited for, in ms (such as psql). */
export function exitedChildrenCpuMs(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

/**
 * CPU time the whole machine has spent busy so far (user, nice, system, irq, softirq of every core), in ms:
 * with the processes above it shows work done outside them, such as the kernel's write-back threads.
 */
export function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq!) * TICK_MS;
}

/**
 * Stall time so far from the kernel's pressure stall information (/proc/pressure, µs): time in which some task
 * waited for a CPU, and time in which every non-idle task waited for I/O. Undefined without PSI.
 */
export function pressureUs(): { cpuSome: number; ioFull: number } | undefined {
  const total = (resource: string, kind: string) => {
    const line = fs
      .readFileSync(`/proc/pressure/${resource}`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${kind} `));
    return Number(/total=(\d+)/.exec(line ?? '')?.[1] ?? NaN);
  };
  try {
    const p = { cpuSome: total('cpu', 'some'), ioFull: total('io', 'full') };
    return Number.isFinite(p.cpuSome) && Number.isFinite(p.ioFull) ? p : undefined;
  } catch {
    return undefined;
  }
}
