/**
 * `nuts adapt`: translates the nuts blocks of a Caddyfile (or Caddy JSON config) into a stock
 * Caddy config and a sidecar.json, and says how to start both.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { type Adapted, adaptFile, requireRoutes } from "../caddy/index.js";
import { action, UserError } from "./errors.js";

interface AdaptFlags {
  config: string;
  out: string;
  listen?: string;
}

export function registerAdapt(program: Command): void {
  program
    .command("adapt")
    .description("translate nuts blocks into a plain Caddy config plus the sidecar's config")
    .requiredOption("--config <file>", "Caddyfile or Caddy JSON config with nuts blocks")
    .option(
      "--out <dir>",
      "folder to write Caddyfile (or caddy.json) and sidecar.json to",
      "./nuts-out",
    )
    .option(
      "--listen <address>",
      "where the sidecar listens: unix:/path/nuts.sock or 127.0.0.1:PORT (default: unix:<out>/nuts.sock)",
    )
    .action(action(async (flags: AdaptFlags) => adapt(flags)));
}

async function adapt(flags: AdaptFlags): Promise<void> {
  const out = resolve(flags.out);
  const listen =
    flags.listen === undefined ? `unix:${join(out, "nuts.sock")}` : absoluteSocket(flags.listen);
  const adapted = requireRoutes(await adaptFile(flags.config, { listen }), flags.config);
  if (flags.listen !== undefined && adapted.listen !== listen) {
    throw new UserError(
      `--listen ${flags.listen} disagrees with sidecar_listen ${adapted.listen} in ${flags.config}; keep one of them`,
    );
  }
  await mkdir(out, { recursive: true, mode: 0o700 });
  const caddyFile = join(out, adapted.caddy.format === "json" ? "caddy.json" : "Caddyfile");
  const caddyText =
    adapted.caddy.format === "json"
      ? `${JSON.stringify(adapted.caddy.json, null, 2)}\n`
      : adapted.caddy.text;
  const sidecarFile = join(out, "sidecar.json");
  await writePrivate(caddyFile, caddyText);
  await writePrivate(sidecarFile, `${JSON.stringify(adapted.sidecar, null, 2)}\n`);
  process.stdout.write(report(adapted, caddyFile, sidecarFile));
}

/** `unix:relative.sock` taken from the current folder, as the adapter does. */
function absoluteSocket(listen: string): string {
  return listen.startsWith("unix:") ? `unix:${resolve(listen.slice("unix:".length))}` : listen;
}

/** Writes a file only its owner may read: sidecar.json can hold NATS credentials. */
async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

function report(adapted: Adapted, caddyFile: string, sidecarFile: string): string {
  const routes = adapted.routes.map(
    (route) =>
      `  ${route.name}: ${route.pathPrefix || "/"} -> stream ${route.streamName}${route.topicPrefix ? `, subjects ${route.topicPrefix}<topic>` : ""}\n`,
  );
  const adapter = adapted.caddy.format === "json" ? "" : " --adapter caddyfile";
  return [
    `wrote ${caddyFile}\n`,
    `wrote ${sidecarFile} (${adapted.routes.length} route${adapted.routes.length === 1 ? "" : "s"})\n`,
    ...routes,
    "\nstart the sidecar:\n",
    `  nuts sidecar --config ${sidecarFile} --listen ${adapted.listen}\n`,
    "then Caddy:\n",
    `  caddy run --config ${caddyFile}${adapter}\n`,
  ].join("");
}
