import { describe, expect, it } from "vitest";
import { ConfigError, resolveConfig } from "../sidecar/config.js";
import { resolveHubs } from "./config.js";

const hub = { stream: "MERCURE", publisher_jwt: { key: "k".repeat(32) }, anonymous: true };

describe("the sidecar config's mercure section", () => {
  it("is resolved by the Mercure layer's resolveHubs, passed in", () => {
    const config = resolveConfig({ mercure: { hub } }, resolveHubs);
    expect(config.mercure.get("hub")?.streamName).toBe("MERCURE");
    expect(config.mercure.get("hub")?.subjectPrefix).toBe("mercure.");
  });

  it("is refused, saying why, when no resolver is passed", () => {
    expect(() => resolveConfig({ mercure: { hub } })).toThrowError(
      new ConfigError(
        '"mercure" is not served here; resolve the config with mercure/config.js\'s resolveHubs',
        undefined,
        undefined,
      ),
    );
    expect(resolveConfig({ routes: { r: { stream_name: "E" } } }).mercure.size).toBe(0);
  });
});
