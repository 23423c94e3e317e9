import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultRuntimeDirPath, prepareRuntimeDir, writePrivateFile } from "./runtime-dir.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nuts-runtime-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("defaultRuntimeDirPath", () => {
  it("is one folder per config file, under XDG_RUNTIME_DIR when set, else the temp dir", async () => {
    const configA = join(dir, "a.Caddyfile");
    const configB = join(dir, "b.Caddyfile");
    await Promise.all([writeFile(configA, ""), writeFile(configB, "")]);

    const underXdg = await defaultRuntimeDirPath(configA, { XDG_RUNTIME_DIR: "/run/user/1000" });
    expect(underXdg).toMatch(/^\/run\/user\/1000\/nuts-[0-9a-f]{12}$/);
    expect(await defaultRuntimeDirPath(configA, {})).toMatch(
      new RegExp(`^${tmpdir()}/nuts-${process.getuid?.()}-[0-9a-f]{12}$`),
    );
    expect(await defaultRuntimeDirPath(configA, {})).toBe(await defaultRuntimeDirPath(configA, {}));
    expect(await defaultRuntimeDirPath(configB, {})).not.toBe(
      await defaultRuntimeDirPath(configA, {}),
    );
  });
});

describe("prepareRuntimeDir", () => {
  it("creates a 0700 folder and removes stale sockets", async () => {
    const path = join(dir, "fresh");
    await mkdir(path, { mode: 0o755 });
    await writeFile(join(path, "nuts.sock"), "");

    const runtime = await prepareRuntimeDir(path);

    expect(runtime).toEqual({
      path,
      sidecarSocket: join(path, "nuts.sock"),
      caddyAdminSocket: join(path, "caddy-admin.sock"),
    });
    expect((await stat(path)).mode & 0o777).toBe(0o700);
    await expect(stat(runtime.sidecarSocket)).rejects.toThrow("ENOENT");
  });

  it("refuses a folder another nuts run is using", async () => {
    const path = join(dir, "busy");
    const runtime = await prepareRuntimeDir(path);
    const server = createServer().listen(runtime.caddyAdminSocket);
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      await expect(prepareRuntimeDir(path)).rejects.toThrow(
        `another \`nuts run\` is using the runtime dir ${path}`,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses a path too long for a unix socket", async () => {
    await expect(prepareRuntimeDir(join(dir, "x".repeat(120)))).rejects.toThrow(
      "too long a path for unix sockets",
    );
  });
});

describe("writePrivateFile", () => {
  it("leaves the file 0600 even when an older copy was readable", async () => {
    const file = join(dir, "sidecar.json");
    await writeFile(file, "old", { mode: 0o644 });
    await writePrivateFile(file, "new");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
