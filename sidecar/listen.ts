/** Where the sidecar listens: a unix socket (the default under `nuts run`) or loopback TCP. */
export type ListenAddress =
  /** `mode`: the socket's permissions. @default 0o600 */
  { type: "unix"; path: string; mode?: number } | { type: "tcp"; host: string; port: number };

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export class ListenError extends Error {
  override name = "ListenError";
  readonly userFacing = true;
}

/**
 * Parses `unix:/path.sock` or `host:port`. Only loopback hosts are accepted: the sidecar trusts
 * the route header Caddy sets, so nothing but Caddy may reach it.
 */
export function parseListen(text: string): ListenAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "")
      throw new ListenError(
        `--listen ${text}: give the socket path, e.g. unix:/run/nuts/nuts.sock`,
      );
    return { type: "unix", path };
  }
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? "";
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new ListenError(
      `--listen ${JSON.stringify(text)}: use unix:/path/to/nuts.sock or 127.0.0.1:PORT`,
    );
  }
  if (!LOOPBACK.has(host)) {
    throw new ListenError(
      `--listen ${text}: the sidecar must only be reachable through Caddy; use a unix socket or a loopback address such as 127.0.0.1:${port}`,
    );
  }
  return { type: "tcp", host: host.replace(/^\[|\]$/g, ""), port };
}

export function formatListen(address: ListenAddress): string {
  return address.type === "unix" ? `unix:${address.path}` : `${address.host}:${address.port}`;
}

/**
 * Parses `--socket-mode`: octal permissions for the unix socket, such as 660 to let the group
 * (Caddy's, under the systemd unit) connect. Others never get access: nothing but Caddy may
 * reach the sidecar.
 */
export function parseSocketMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw new ListenError(`--socket-mode ${text}: give octal permissions such as 600 or 660`);
  }
  const mode = Number.parseInt(text, 8);
  if ((mode & 0o007) !== 0) {
    throw new ListenError(
      `--socket-mode ${text}: the sidecar must only be reachable through Caddy; give Caddy's group access (660), never everyone`,
    );
  }
  return mode;
}
