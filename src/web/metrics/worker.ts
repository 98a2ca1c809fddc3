// A worker's own metrics (runmailer, runmailer-pg with [metrics] listen): what this process sent,
// deferred and failed, how long SMTP sends, claims and records took, its passes, and whether
// runmailer-pg's LISTEN connection is up, on /metrics beside /healthz. A fleet of workers is
// scraped one by one; the queue's own counts come from `mailer web`'s /metrics (one per database).
import { Hono } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EngineObserver } from "../../engine/observer.ts";
import { ConfigError, errorText } from "../../errors.ts";
import { parseListen } from "../../intake/listen.ts";
import type { Logger } from "../../log.ts";
import { serveHttp, type HttpServer } from "../../runtime.ts";
import { processMetrics } from "./process.ts";

export const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

export interface WorkerMetrics {
  registry: Registry;
  observer: EngineObserver;
  /** runmailer-pg: its LISTEN connection went up (true) or down (false). */
  listening(up: boolean): void;
}

export function workerMetrics(command: string): WorkerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ command });
  const registers = [registry];
  const messages = new Counter({ name: "mailer_messages_total", help: "Messages this worker attempted, by outcome (sent, deferred, failed, dont_send)", labelNames: ["result"], registers });
  for (const result of ["sent", "deferred", "failed", "dont_send", "expired"]) messages.inc({ result }, 0);
  const send = new Histogram({
    name: "mailer_smtp_send_duration_seconds", help: "Time from handing a message to the transport to its outcome",
    labelNames: ["result"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
  });
  const claim = new Histogram({ name: "mailer_claim_duration_seconds", help: "Time of one claim statement", buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
  const record = new Histogram({ name: "mailer_record_duration_seconds", help: "Time of one batch's record transaction", buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
  const passes = new Counter({ name: "mailer_passes_total", help: "Send passes this worker finished", registers });
  const listen = new Gauge({ name: "mailer_listen_connection_up", help: "runmailer-pg: 1 while the LISTEN connection is up", registers });
  processMetrics(registry);
  return {
    registry,
    observer: {
      outcome(o) {
        messages.inc({ result: o.result });
        send.observe({ result: o.result }, o.duration_ms / 1000);
      },
      claimed: (seconds, n) => void (n > 0 && claim.observe(seconds)),
      recorded: (seconds) => record.observe(seconds),
      passFinished: () => passes.inc(),
    },
    listening: (up) => listen.set(up ? 1 : 0),
  };
}

/** Serves /metrics and /healthz on [metrics] listen; null when it is empty. */
export async function serveWorkerMetrics(listenText: string, metrics: WorkerMetrics, logger: Logger): Promise<HttpServer | null> {
  if (listenText === "") return null;
  const listen = parseListen(listenText, "metrics.listen");
  const app = new Hono();
  app.get("/metrics", async (c) => c.body(await metrics.registry.metrics(), 200, { "Content-Type": PROMETHEUS_TEXT }));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.notFound((c) => c.text("not found: /metrics and /healthz are served here", 404));
  try {
    const server = await serveHttp(listen, (request) => app.fetch(request));
    logger.info("metrics listening", { url: `http://${listen.host}:${server.port}/metrics`, port: server.port });
    return server;
  } catch (error) {
    throw new ConfigError(`metrics.listen: cannot listen on ${listen.host}:${listen.port}: ${errorText(error)}`);
  }
}
