import { describe, expect, it } from "vitest";
import { type RouteStatus, readiness, routeReadiness } from "./health.js";

const connected = { type: "connected", server: "127.0.0.1:4222" } as const;
const route = (status: Partial<RouteStatus>): RouteStatus => ({
  streamName: "EVENTS",
  topicPrefix: "events.",
  transport: connected,
  source: { type: "ready" },
  ...status,
});

describe("routeReadiness", () => {
  it("is ready with NATS connected and the live consumer running", () => {
    expect(routeReadiness(route({}))).toEqual({ ready: true });
  });

  it("says NATS is down before anything about the stream", () => {
    for (const source of [{ type: "ready" }, { type: "stream_missing" }] as const) {
      expect(
        routeReadiness(route({ transport: { type: "nats_disconnected", since: 1 }, source })),
      ).toEqual({
        ready: false,
        reason: "nats_disconnected",
        message: "NATS is not reachable; the sidecar keeps reconnecting",
      });
    }
  });

  it("says how to create a missing stream", () => {
    expect(routeReadiness(route({ source: { type: "stream_missing" } }))).toEqual({
      ready: false,
      reason: "stream_missing",
      message:
        "stream EVENTS does not exist; create it with nuts stream add EVENTS --subjects 'events.>'",
    });
  });

  it("is starting while NATS connects or the consumer starts", () => {
    expect(
      routeReadiness(route({ transport: { type: "connecting" }, source: { type: "starting" } })),
    ).toEqual({ ready: false, reason: "starting", message: "connecting to NATS" });
    expect(routeReadiness(route({ source: { type: "starting" } }))).toEqual({
      ready: false,
      reason: "starting",
      message: "starting the live consumer on stream EVENTS",
    });
  });

  it("reports a failed consumer with its reason, and a stopping sidecar as failed", () => {
    expect(routeReadiness(route({ source: { type: "failed", reason: "timeout" } }))).toEqual({
      ready: false,
      reason: "failed",
      message: "the live consumer on stream EVENTS failed and is being started again: timeout",
    });
    expect(routeReadiness(route({ source: { type: "stopped" } }))).toMatchObject({
      ready: false,
      reason: "failed",
    });
  });
});

describe("readiness", () => {
  it("is ready when every route is, and names each route", () => {
    expect(
      readiness(
        new Map([
          ["a", route({})],
          ["b", route({})],
        ]),
      ),
    ).toEqual({
      status: "ready",
      routes: { a: { ready: true }, b: { ready: true } },
    });
  });

  it("is not ready when one route is not", () => {
    const result = readiness(
      new Map([
        ["a", route({})],
        ["b", route({ streamName: "B", topicPrefix: "b.", source: { type: "stream_missing" } })],
      ]),
    );
    expect(result.status).toBe("not_ready");
    expect(result.routes.a).toEqual({ ready: true });
    expect(result.routes.b).toMatchObject({ ready: false, reason: "stream_missing" });
  });

  it("is ready with no routes yet (header routes appear on their first request)", () => {
    expect(readiness(new Map())).toEqual({ status: "ready", routes: {} });
  });
});
