/**
 * The private directory `nuts run` keeps its generated files and sockets in: the Caddy JSON,
 * sidecar.json (which may hold NATS secrets), the sidecar's socket and Caddy's admin socket.
 *
 * Default: `$XDG_RUNTIME_DIR/nuts-<hash>` (a per-user tmpfs on systemd machines), else
 * `<tmpdir>/nuts-<uid>-<hash>`, where the hash is of the config file's real path. The config's
 * own folder is not used: it may be read-only (/etc/nuts) and its path may be too long for a
 * unix socket. The folder is 0700 and must belong to us, since /tmp is shared.
 */
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, realpath, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { UserError } from "./errors.js";

/** Linux's sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const LONGEST_SOCKET_NAME = "caddy-admin.sock";

export interface RuntimeDir {
  path: string;
  /** The sidecar's default unix socket. */
  sidecarSocket: string;
  /** Caddy's admin endpoint, so that two `nuts run` never share localhost:2019. */
  caddyAdminSocket: string;
}

/** The default folder for a config file; `env` is consulted for XDG_RUNTIME_DIR only. */
export async function defaultRuntimeDirPath(
  configFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const real = await realpath(configFile).catch(() => resolve(configFile));
  const hash = createHash("sha256").update(real).digest("hex").slice(0, 12);
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg)) return join(xdg, `nuts-${hash}`);
  return join(tmpdir(), `nuts-${process.getuid?.() ?? "user"}-${hash}`);
}

/**
 * Creates (or takes over) the folder, makes it 0700 and refuses one that another user owns or
 * that a `nuts run` still running for the same config is using.
 */
export async function prepareRuntimeDir(path: string): Promise<RuntimeDir> {
  const dir = resolve(path);
  const longest = join(dir, LONGEST_SOCKET_NAME);
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH_BYTES) {
    throw new UserError(
      `the runtime dir ${dir} is too long a path for unix sockets (at most ${MAX_SOCKET_PATH_BYTES - LONGEST_SOCKET_NAME.length - 1} bytes); pass a shorter --runtime-dir`,
    );
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UserError(
      `cannot create the runtime dir ${dir}: ${(error as NodeJS.ErrnoException).code ?? error}; pass another --runtime-dir`,
      { cause: error },
    );
  }
  const stats = await lstat(dir);
  if (!stats.isDirectory()) {
    throw new UserError(`the runtime dir ${dir} is not a directory; pass another --runtime-dir`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw new UserError(
      `the runtime dir ${dir} belongs to another user (uid ${stats.uid}); remove it or pass another --runtime-dir`,
    );
  }
  await chmod(dir, 0o700);

  const runtime: RuntimeDir = {
    path: dir,
    sidecarSocket: join(dir, "nuts.sock"),
    caddyAdminSocket: join(dir, LONGEST_SOCKET_NAME),
  };
  for (const socket of [runtime.sidecarSocket, runtime.caddyAdminSocket]) {
    if (await acceptsConnections({ type: "unix", path: socket })) {
      throw new UserError(
        `another \`nuts run\` is using the runtime dir ${dir} (${socket} answers); stop it, or pass another --runtime-dir`,
      );
    }
    // Left over from a run that was killed; the sidecar and Caddy would trip over them.
    await rm(socket, { force: true });
  }
  return runtime;
}

/** Writes a file only we can read: the sidecar config may hold NATS tokens and passwords. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  // `mode` only applies when the file is created; an older copy keeps its own.
  await chmod(path, 0o600);
}

export type ProbeAddress =
  | { type: "unix"; path: string }
  | { type: "tcp"; host: string; port: number };

/** Whether something listens at the address right now. */
export function acceptsConnections(address: ProbeAddress): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket =
      address.type === "unix"
        ? createConnection({ path: address.path })
        : createConnection({ host: address.host, port: address.port });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolvePromise(false);
    });
  });
}
