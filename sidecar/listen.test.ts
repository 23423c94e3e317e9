import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { ListenError, parseListen, parseSocketMode } from "./listen.js";
import { silentLogger } from "./log.js";
import { startSidecar } from "./server.js";

describe("parseSocketMode", () => {
  it.each([
    ["600", 0o600],
    ["660", 0o660],
    ["0640", 0o640],
  ])("reads %s", (text, mode) => {
    expect(parseSocketMode(text)).toBe(mode);
  });

  it.each([
    [
      "666",
      "--socket-mode 666: the sidecar must only be reachable through Caddy; give Caddy's group access (660), never everyone",
    ],
    [
      "601",
      "--socket-mode 601: the sidecar must only be reachable through Caddy; give Caddy's group access (660), never everyone",
    ],
    ["6600", "--socket-mode 6600: give octal permissions such as 600 or 660"],
    ["680", "--socket-mode 680: give octal permissions such as 600 or 660"],
  ])("refuses %s", (text, message) => {
    expect(() => parseSocketMode(text)).toThrow(new ListenError(message));
  });
});

describe("the unix socket", () => {
  const dir = mkdtempSync(join(tmpdir(), "nuts-listen-"));
  // Header routes only: no NATS connection is made until a request names a route.
  const config = resolveConfig({ header_routes: {} });

  it.each([
    [undefined, 0o600],
    [0o660, 0o660],
  ])("is created with mode %o (given) as %o", async (mode, expected) => {
    const path = join(dir, `mode-${expected.toString(8)}.sock`);
    const listen = parseListen(`unix:${path}`);
    const sidecar = await startSidecar(
      config,
      mode === undefined ? listen : ({ ...listen, mode } as typeof listen),
      silentLogger,
    );
    try {
      expect(statSync(path).mode & 0o777).toBe(expected);
    } finally {
      await sidecar.stop();
    }
  });
});
