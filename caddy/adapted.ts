/** What the adapters take and give: stock Caddy config plus the sidecar's configuration. */
import type { SidecarOptions } from "../sidecar/config.js";
import type { Env } from "./env.js";

export interface AdaptOptions {
  /**
   * Where the sidecar listens, "unix:/abs/nuts.sock" or "127.0.0.1:9000". A Caddyfile's global
   * `nuts { sidecar_listen ... }` option (or `apps.nuts.sidecar_listen` in JSON) overrides it.
   */
  listen: string;
  /** Environment for `{$VAR}` placeholders inside nuts blocks. @default process.env */
  env?: Env;
}

/** One nuts route, for `nuts run` to print. */
export interface AdaptedRoute {
  name: string;
  pathPrefix: string;
  streamName: string;
  topicPrefix: string;
  /** Where the nuts block is (for JSON, the config file and line 0: JSON.parse keeps no lines). */
  file: string;
  line: number;
}

export interface Adapted {
  caddy: { format: "caddyfile"; text: string } | { format: "json"; json: unknown };
  sidecar: SidecarOptions;
  routes: AdaptedRoute[];
  /** The effective sidecar listen address. */
  listen: string;
}
