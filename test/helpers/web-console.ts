// `mailer web` as the operator runs it (the compiled binary on a loopback port), for the browser tests.
import { startService, type ServiceProcess } from "./service-process.ts";
import type { RunOptions } from "./cli.ts";

export interface ConsoleProcess extends ServiceProcess {
  url: string;
}

export async function startConsole(config: string, options: RunOptions & { args?: string[] } = {}): Promise<ConsoleProcess> {
  const service = await startService(
    ["web", "--config", config, "--log-format", "json", ...(options.args?.includes("--listen") ? [] : ["--listen", "127.0.0.1:0"]), ...(options.args ?? [])],
    /web console listening/,
    options,
  );
  return Object.assign(service, { url: `http://127.0.0.1:${service.port}` });
}
