/**
 * The Caddy side of NUTS: turns a Caddyfile or Caddy JSON config with `nuts` blocks into stock
 * Caddy config plus the sidecar's configuration.
 */
import { readFile } from "node:fs/promises";
import type { Adapted, AdaptOptions } from "./adapted.js";
import { adaptCaddyfile } from "./caddyfile-adapter.js";
import { AdaptError } from "./errors.js";
import { adaptJson } from "./json-adapter.js";

export type { Adapted, AdaptedRoute, AdaptOptions } from "./adapted.js";
export { adaptCaddyfile } from "./caddyfile-adapter.js";
export { AdaptError, CaddyfileError, CaddyJsonError } from "./errors.js";
export { adaptJson } from "./json-adapter.js";

/**
 * Adapts the file at `path`: Caddy JSON when the name ends in .json or the content is a JSON
 * object, else a Caddyfile (whose global options block also starts with "{", hence the parse).
 */
export async function adaptFile(path: string, options: AdaptOptions): Promise<Adapted> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AdaptError(`cannot read ${path}: ${code === "ENOENT" ? "no such file" : code}`, {
      cause: error,
    });
  }
  if (path.endsWith(".json") || isJsonObject(text)) return adaptJson(text, path, options);
  return adaptCaddyfile(text, path, options);
}

function isJsonObject(text: string): boolean {
  if (!text.trimStart().startsWith("{")) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** For commands that start a sidecar: a config without any nuts block is a mistake. */
export function requireRoutes(adapted: Adapted, path: string): Adapted {
  if (adapted.routes.length === 0) {
    throw new AdaptError(
      `${path} has no nuts block; add one inside a site, e.g. route /events* { nuts { stream_name EVENTS topic_prefix events. } }`,
    );
  }
  return adapted;
}
