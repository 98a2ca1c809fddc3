// The process's own gauges, in the names Prometheus's client libraries use. Written here rather than
// taken from prom-client's collectDefaultMetrics, whose event-loop figures print "Nan" under Bun.
import { readdirSync } from "node:fs";
import { Counter, Gauge, type Registry } from "prom-client";
import { VERSION } from "../../version.ts";

const START = Date.now() / 1000;

export function processMetrics(registry: Registry): void {
  const registers = [registry];
  new Gauge({ name: "mailer_build_info", help: "Always 1; the labels say which mailer this is", labelNames: ["version"], registers, collect() {
    this.set({ version: VERSION }, 1);
  } });
  new Gauge({ name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds", registers, collect() {
    this.set(Math.floor(START));
  } });
  new Gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes", registers, collect() {
    this.set(process.memoryUsage().rss);
  } });
  const cpu = new Counter({ name: "process_cpu_seconds_total", help: "Total user and system CPU time spent, in seconds", registers, collect() {
    const used = process.cpuUsage();
    cpu.reset();
    cpu.inc((used.user + used.system) / 1e6);
  } });
  new Gauge({ name: "process_open_fds", help: "Number of open file descriptors", registers, collect() {
    try {
      this.set(readdirSync("/proc/self/fd").length);
    } catch {
      // Not Linux: no /proc.
    }
  } });
}
