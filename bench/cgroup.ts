/**
 * A memory cgroup (v1, as on this machine: the controller mounted at /sys/fs/cgroup/memory, no systemd) for one
 * process: the limit a container would have, with swap included (memsw) so that swapping cannot hide an excess.
 * Needs root.
 */
import fs from 'node:fs';
import path from 'node:path';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';

export interface CgroupReading {
  usageBytes: number;
  /** From memory.stat: anonymous memory (the process' own) and page cache (its log file's pages, reclaimable). */
  rssBytes: number;
  cacheBytes: number;
}

export interface CgroupTotals {
  limitBytes: number;
  maxUsageBytes: number;
  /** The kernel's own memory charged to the cgroup (socket buffers among it), included in maxUsageBytes. */
  kmemMaxUsageBytes: number;
  /** How often usage hit the limit (the kernel then reclaimed page cache, or killed). */
  failcnt: number;
  underOom: number;
  oomKill: number;
}

export class MemoryCgroup {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates `event-bench-<pid>` with `limitBytes` of memory (and of memory + swap). */
  static create(limitBytes: number): MemoryCgroup {
    if (process.getuid?.() !== 0) throw new Error('bench-memory needs root: it creates a memory cgroup');
    if (!fs.existsSync(path.join(MEMORY_ROOT, 'memory.limit_in_bytes'))) {
      throw new Error(`no cgroup v1 memory controller at ${MEMORY_ROOT}: this benchmark needs one`);
    }
    const cgroup = new MemoryCgroup(path.join(MEMORY_ROOT, `event-bench-${process.pid}`));
    fs.mkdirSync(cgroup.dir);
    cgroup.write('memory.limit_in_bytes', limitBytes);
    if (fs.existsSync(path.join(cgroup.dir, 'memory.memsw.limit_in_bytes'))) cgroup.write('memory.memsw.limit_in_bytes', limitBytes);
    return cgroup;
  }

  /**
   * A shell prefix that moves itself into this cgroup and then execs the command after it (so that it allocates
   * nothing outside). Its output goes through a `cat` started before the move, as a container's goes to the runtime:
   * the log file's page cache is then charged to the writer outside, not to the limit.
   */
  launcher(): string[] {
    return ['bash', '-c', 'exec > >(exec cat) 2>&1; echo $$ > "$0" && exec "$@"', path.join(this.dir, 'cgroup.procs')];
  }

  reading(): CgroupReading {
    const stat = this.keyValues('memory.stat');
    return { usageBytes: this.number('memory.usage_in_bytes'), rssBytes: stat.total_rss ?? 0, cacheBytes: stat.total_cache ?? 0 };
  }

  totals(): CgroupTotals {
    const oom = this.keyValues('memory.oom_control');
    return {
      limitBytes: this.number('memory.limit_in_bytes'),
      maxUsageBytes: this.number('memory.max_usage_in_bytes'),
      kmemMaxUsageBytes: this.number('memory.kmem.max_usage_in_bytes'),
      failcnt: this.number('memory.failcnt'),
      underOom: oom.under_oom ?? 0,
      oomKill: oom.oom_kill ?? 0,
    };
  }

  /** Removes the cgroup once its processes have exited (an empty cgroup only). */
  remove(): void {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        fs.rmdirSync(this.dir);
        return;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // its last process is still exiting
      }
    }
    console.error(`bench-memory: could not remove ${this.dir} (a process still in it?)`);
  }

  private write(file: string, value: number): void {
    fs.writeFileSync(path.join(this.dir, file), String(value));
  }
  private number(file: string): number {
    return Number(fs.readFileSync(path.join(this.dir, file), 'utf8').trim());
  }
  private keyValues(file: string): Record<string, number> {
    const lines = fs.readFileSync(path.join(this.dir, file), 'utf8').trim().split('\n');
    return Object.fromEntries(lines.map((l) => l.split(/\s+/)).map(([k, v]) => [k!, Number(v)]));
  }
}
