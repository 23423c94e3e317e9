import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CADDY_NOT_FOUND,
  caddyErrorLine,
  findCaddy,
  siteAddresses,
  withPrivateAdmin,
  withQuietProxyLog,
} from "./caddy-config.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nuts-caddy-config-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeCaddy(folder: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  const path = join(folder, "caddy");
  await writeFile(path, "#!/bin/sh\n");
  await chmod(path, 0o755);
  return path;
}

describe("findCaddy", () => {
  it("takes --caddy, then NUTS_CADDY, then PATH, then .tools/bin/caddy", async () => {
    const flag = await fakeCaddy(join(dir, "flag"));
    const fromEnv = await fakeCaddy(join(dir, "env"));
    const onPath = await fakeCaddy(join(dir, "path"));
    const project = join(dir, "project");
    const bundled = await fakeCaddy(join(project, ".tools", "bin"));
    const PATH = `/nonexistent:${join(dir, "path")}`;

    expect(findCaddy({ flag, env: { NUTS_CADDY: fromEnv, PATH }, projectRoot: project })).toBe(
      flag,
    );
    expect(findCaddy({ env: { NUTS_CADDY: fromEnv, PATH }, projectRoot: project })).toBe(fromEnv);
    expect(findCaddy({ env: { PATH }, projectRoot: project })).toBe(onPath);
    expect(findCaddy({ env: { PATH: "/nonexistent" }, projectRoot: project })).toBe(bundled);
  });

  it("says how to get caddy when there is none", () => {
    expect(() => findCaddy({ env: { PATH: "/nonexistent" }, projectRoot: dir })).toThrow(
      CADDY_NOT_FOUND,
    );
  });

  it("names a --caddy or NUTS_CADDY that is not executable", async () => {
    const plain = join(dir, "not-executable");
    await writeFile(plain, "");
    expect(() => findCaddy({ flag: plain, env: {}, projectRoot: dir })).toThrow(
      `--caddy ${plain}: no executable file there`,
    );
    expect(() => findCaddy({ env: { NUTS_CADDY: plain }, projectRoot: dir })).toThrow(
      `NUTS_CADDY=${plain}: no executable file there`,
    );
  });
});

describe("withPrivateAdmin", () => {
  it("puts the admin endpoint on the runtime dir's socket and turns autosave off", () => {
    expect(withPrivateAdmin({ apps: {} }, "/run/nuts/caddy-admin.sock")).toEqual({
      apps: {},
      admin: { listen: "unix//run/nuts/caddy-admin.sock", config: { persist: false } },
    });
  });

  it("keeps an admin address or `admin off` the config chose", () => {
    expect(withPrivateAdmin({ admin: { listen: "localhost:2999" } }, "/s").admin).toEqual({
      listen: "localhost:2999",
      config: { persist: false },
    });
    expect(withPrivateAdmin({ admin: { disabled: true } }, "/s").admin).toEqual({
      disabled: true,
      config: { persist: false },
    });
  });
});

describe("withQuietProxyLog", () => {
  it("keeps only errors from the reverse proxy, whose warnings a leaving browser triggers", () => {
    expect(withQuietProxyLog({ apps: {} })).toEqual({
      apps: {},
      logging: {
        logs: {
          default: { exclude: ["http.handlers.reverse_proxy"] },
          proxy: { include: ["http.handlers.reverse_proxy"], level: "ERROR" },
        },
      },
    });
  });

  it("leaves a config that sets up its own logging alone", () => {
    const config = { apps: {}, logging: { logs: { default: { level: "DEBUG" } } } };
    expect(withQuietProxyLog(config)).toBe(config);
  });
});

describe("siteAddresses", () => {
  it("lists each server's listen address as a URL, with the hosts its routes match", () => {
    expect(
      siteAddresses({
        apps: {
          http: {
            servers: {
              srv0: { listen: [":8080"] },
              srv1: { listen: [":443"], routes: [{ match: [{ host: ["example.com"] }] }] },
              srv2: { listen: ["127.0.0.1:9090"] },
            },
          },
        },
      }),
    ).toEqual(["http://localhost:8080", "https://example.com", "http://127.0.0.1:9090"]);
  });
});

describe("caddyErrorLine", () => {
  it("takes Caddy's final Error: line", () => {
    const stderr = [
      '{"level":"info","msg":"using config from file"}',
      "Error: loading initial config: loading new config: http app module: start: listening on :8080: listen tcp :8080: bind: address already in use",
      "",
    ].join("\n");
    expect(caddyErrorLine(stderr)).toBe(
      "loading initial config: loading new config: http app module: start: listening on :8080: listen tcp :8080: bind: address already in use",
    );
  });

  it("falls back to the last error-level log entry", () => {
    const stderr =
      '{"level":"error","msg":"boom","error":"it broke"}\n{"level":"info","msg":"x"}\n';
    expect(caddyErrorLine(stderr)).toBe("it broke");
    expect(caddyErrorLine('{"level":"info","msg":"fine"}\n')).toBeUndefined();
  });
});
