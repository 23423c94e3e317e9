import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { resolveHubs } from "../mercure/config.js";
import { parseAdminListen } from "../sidecar/admin.js";
import { type Config, ConfigError, resolveConfig } from "../sidecar/config.js";
import { parseListen, parseSocketMode } from "../sidecar/listen.js";
import { createLogger } from "../sidecar/log.js";
import { startSidecar } from "../sidecar/server.js";
import { action, UserError } from "./errors.js";

export function registerSidecar(program: Command): void {
  program
    .command("sidecar")
    .description("run the streaming sidecar that Caddy proxies to (nuts run starts it for you)")
    .requiredOption("--config <file>", "sidecar config (JSON), as written by `nuts adapt`")
    .option("--listen <address>", "unix:/path/to/nuts.sock or 127.0.0.1:PORT", "127.0.0.1:8787")
    .option(
      "--socket-mode <octal>",
      "permissions of the unix socket: 660 lets the sidecar's group (Caddy's) connect",
      "600",
    )
    .addOption(
      new Option(
        "--admin-listen <address>",
        "serve /livez, /readyz and /metrics here (host:PORT or unix:/path.sock); off unless given",
      ).env("NUTS_ADMIN_LISTEN"),
    )
    .action(
      action(
        async (options: {
          config: string;
          listen: string;
          socketMode: string;
          adminListen?: string;
        }) => {
          const raw = await readJson(options.config);
          let config: Config;
          try {
            config = resolveConfig(raw, resolveHubs);
          } catch (error) {
            if (error instanceof ConfigError)
              throw new UserError(`${options.config}: ${error.message}`);
            throw error;
          }
          const parsed = parseListen(options.listen);
          const mode = parseSocketMode(options.socketMode);
          const listen = parsed.type === "unix" ? { ...parsed, mode } : parsed;
          const admin =
            options.adminListen === undefined ||
            options.adminListen === "" ||
            options.adminListen === "off"
              ? null
              : parseAdminListen(options.adminListen);
          const log = createLogger();
          // Before starting: a SIGTERM right after "sidecar listening" must stop it cleanly too
          // (socket file removed, exit 0), not kill it with Node's default action.
          let markStarted: (() => void) | undefined;
          const started = new Promise<void>((resolve) => {
            markStarted = resolve;
          });
          let stopping = false;
          const shutdown = async (signal: string) => {
            if (stopping) return;
            stopping = true;
            log.info("shutting down", { signal });
            await started;
            sidecar.stop().then(
              () => process.exit(0),
              () => process.exit(1),
            );
          };
          process.once("SIGTERM", () => void shutdown("SIGTERM"));
          process.once("SIGINT", () => void shutdown("SIGINT"));
          const sidecar = await startSidecar(config, listen, log, { admin }).catch(
            (error: NodeJS.ErrnoException & { adminListen?: boolean }) => {
              if (error.adminListen && error.code === "EADDRINUSE")
                throw new UserError(
                  `--admin-listen ${options.adminListen}: the address is already in use`,
                );
              if (error.adminListen && error.code === "EACCES")
                throw new UserError(`--admin-listen ${options.adminListen}: permission denied`);
              if (error.adminListen && error.code === "EADDRNOTAVAIL")
                throw new UserError(
                  `--admin-listen ${options.adminListen}: no interface has that address`,
                );
              if (error.code === "EADDRINUSE")
                throw new UserError(`--listen ${options.listen}: the address is already in use`);
              if (error.code === "EACCES")
                throw new UserError(`--listen ${options.listen}: permission denied`);
              throw error;
            },
          );
          markStarted?.();
        },
      ),
    );
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UserError(
      `cannot read the sidecar config ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}
