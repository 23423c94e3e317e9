import { describe, expect, it } from "vitest";
import { shownPath } from "./shown-path.js";

describe("shownPath", () => {
  it("shows a file inside the current folder relative to it", () => {
    expect(shownPath("/work/nuts/Caddyfile", "/work/nuts")).toBe("Caddyfile");
    expect(shownPath("/work/nuts/caddy/examples/demo.Caddyfile", "/work/nuts")).toBe(
      "caddy/examples/demo.Caddyfile",
    );
  });

  it("shows a file outside the current folder by its absolute path", () => {
    expect(shownPath("/etc/nuts/Caddyfile", "/app")).toBe("/etc/nuts/Caddyfile");
    expect(shownPath("/work/other/Caddyfile", "/work/nuts")).toBe("/work/other/Caddyfile");
    expect(shownPath("/work/Caddyfile", "/work/nuts")).toBe("/work/Caddyfile");
  });

  it("keeps a name that only starts with two dots relative", () => {
    expect(shownPath("/app/..Caddyfile", "/app")).toBe("..Caddyfile");
  });

  it("shows the current folder itself by its absolute path", () => {
    expect(shownPath("/app", "/app")).toBe("/app");
  });
});
