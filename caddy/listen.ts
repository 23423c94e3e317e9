/**
 * The sidecar's listen address, as `nuts sidecar --listen` takes it: `unix:/abs/path.sock` or
 * `host:port` (normally loopback, e.g. 127.0.0.1:9000). Caddy's reverse_proxy dials the same
 * place, written its own way (`unix//abs/path.sock`).
 */
import { isAbsolute, resolve } from "node:path";

export interface ListenAddress {
  /** Normalised for `nuts sidecar --listen`: "unix:/abs/nuts.sock" or "127.0.0.1:9000". */
  listen: string;
  /** The reverse_proxy upstream: "unix//abs/nuts.sock" or "127.0.0.1:9000". */
  dial: string;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export const LISTEN_EXAMPLES = "unix:/run/nuts/nuts.sock or 127.0.0.1:9000";

/**
 * Parses a listen address; a relative socket path is taken from `folder`. Returns undefined when
 * the text is neither form.
 */
export function parseListenAddress(text: string, folder: string): ListenAddress | undefined {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") return undefined;
    const absolute = isAbsolute(path) ? path : resolve(folder, path);
    return { listen: `unix:${absolute}`, dial: `unix/${absolute}` };
  }
  const match = HOST_PORT.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { listen: text, dial: text };
}
