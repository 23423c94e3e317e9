import { describe, expect, it } from "vitest";
import { resolveRoute } from "./config.js";
import { corsHeaders, preflightHeaders } from "./cors.js";

const anyOrigin = resolveRoute("open", { stream_name: "S" });
const listed = resolveRoute("closed", {
  stream_name: "S",
  allowed_origins: ["https://app.example", "http://localhost:8080"],
  publish: true,
});

describe("corsHeaders", () => {
  it('answers any origin with "*" when allowed_origins is ["*"]', () => {
    expect(corsHeaders(anyOrigin, "https://anywhere.example")).toEqual({
      "Access-Control-Allow-Origin": "*",
    });
    expect(corsHeaders(anyOrigin, undefined)).toEqual({ "Access-Control-Allow-Origin": "*" });
  });

  it("echoes a listed origin, with credentials and Vary: Origin", () => {
    expect(corsHeaders(listed, "http://localhost:8080")).toEqual({
      "Access-Control-Allow-Origin": "http://localhost:8080",
      "Access-Control-Allow-Credentials": "true",
      Vary: "Origin",
    });
  });

  it("allows no other origin, but still varies on it", () => {
    expect(corsHeaders(listed, "https://evil.example")).toEqual({ Vary: "Origin" });
    expect(corsHeaders(listed, "https://app.example.evil.example")).toEqual({ Vary: "Origin" });
    expect(corsHeaders(listed, undefined)).toEqual({ Vary: "Origin" });
  });
});

describe("preflightHeaders", () => {
  it("allows GET and the headers an EventSource sends", () => {
    expect(preflightHeaders(anyOrigin, "https://x.example")).toEqual({
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Allow-Methods": "GET, OPTIONS",
      "Access-Control-Allow-Headers": "Last-Event-ID, Cache-Control, Content-Type",
      "Access-Control-Max-Age": "86400",
    });
  });

  it("allows POST where publishing is on", () => {
    expect(preflightHeaders(listed, "https://app.example")).toEqual({
      "Access-Control-Allow-Origin": "https://app.example",
      "Access-Control-Allow-Credentials": "true",
      Vary: "Origin",
      "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
      "Access-Control-Allow-Headers": "Last-Event-ID, Cache-Control, Content-Type",
      "Access-Control-Max-Age": "86400",
    });
  });
});
