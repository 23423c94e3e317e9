import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SIDECAR_NODE_OPTIONS } from "./sidecar-node-options.js";

describe("the sidecar's Node options", () => {
  it("are on bin/nuts.js's #! line, so `nuts sidecar` started on its own has them too", () => {
    const firstLine = readFileSync(new URL("../bin/nuts.js", import.meta.url), "utf8").split(
      "\n",
    )[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${SIDECAR_NODE_OPTIONS.join(" ")}`);
  });
});
