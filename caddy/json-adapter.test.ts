import { describe, expect, it } from "vitest";
import { CaddyJsonError } from "./errors.js";
import { adaptJson } from "./json-adapter.js";

const listen = "unix:/run/nuts/nuts.sock";

function config(handler: Record<string, unknown>, match?: unknown): string {
  const route = match === undefined ? { handle: [handler] } : { match, handle: [handler] };
  return JSON.stringify({
    apps: { http: { servers: { srv0: { listen: [":8080"], routes: [route] } } } },
  });
}

function jsonError(text: string): string {
  try {
    adaptJson(text, "config.json", { listen, env: {} });
  } catch (error) {
    expect(error).toBeInstanceOf(CaddyJsonError);
    expect((error as CaddyJsonError).userFacing).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a CaddyJsonError");
}

describe("adaptJson", () => {
  it("replaces a nuts handler with the long-URI guard and a reverse_proxy that names the route", () => {
    const adapted = adaptJson(
      config({ handler: "nuts", stream_name: "EVENTS" }, [{ path: ["/events*"] }]),
      "config.json",
      { listen },
    );
    const json = adapted.caddy.format === "json" ? adapted.caddy.json : undefined;
    expect(json).toEqual({
      apps: {
        http: {
          servers: {
            srv0: {
              listen: [":8080"],
              routes: [
                {
                  match: [{ path: ["/events*"] }],
                  handle: [
                    {
                      handler: "subroute",
                      routes: [
                        {
                          match: [{ expression: "size({http.request.uri}) > 32768" }],
                          handle: [
                            {
                              handler: "headers",
                              response: { set: { "Content-Type": ["application/json"] } },
                            },
                            {
                              handler: "static_response",
                              status_code: 414,
                              body: '{"error":"uri_too_long","message":"the request URI is over 32 KiB; ask for fewer or shorter topics"}',
                            },
                          ],
                          terminal: true,
                        },
                        {
                          handle: [
                            {
                              handler: "reverse_proxy",
                              upstreams: [{ dial: "unix//run/nuts/nuts.sock" }],
                              flush_interval: -1,
                              transport: { protocol: "http", versions: ["h2c"] },
                              headers: {
                                request: {
                                  set: { "X-Nuts-Route": ["events"], Host: ["nuts-sidecar"] },
                                },
                              },
                              load_balancing: { try_duration: "10s", try_interval: "100ms" },
                            },
                          ],
                        },
                      ],
                    },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    expect(adapted.sidecar).toEqual({
      routes: { events: { stream_name: "EVENTS", path_prefix: "/events" } },
    });
  });

  it("names the JSON location of a mistake", () => {
    expect(
      jsonError(config({ handler: "nuts", topic_prefix: "x." }, [{ path: ["/events*"] }])),
    ).toBe(
      'config.json: apps.http.servers.srv0.routes[0].handle[0]: route "events": stream_name is required: name the JetStream stream, e.g. "EVENTS"',
    );
    expect(jsonError(config({ handler: "nuts", stream_name: "E", topic_prefx: "x." }))).toBe(
      'config.json: apps.http.servers.srv0.routes[0].handle[0]: route "route-1": unknown option "topic_prefx"; did you mean "topic_prefix"?',
    );
    expect(
      jsonError(
        config({ handler: "nuts", stream_name: "E", nats_token: "t", nats_credentials: "/c" }),
      ),
    ).toBe(
      'config.json: apps.http.servers.srv0.routes[0].handle[0]: route "route-1": choose one NATS auth mode, not nats_token and nats_credentials',
    );
  });

  it("asks for path_prefix when the match gives no single prefix", () => {
    expect(
      jsonError(config({ handler: "nuts", stream_name: "E" }, [{ path: ["/a/*", "/b/*"] }])),
    ).toBe(
      'config.json: apps.http.servers.srv0.routes[0].handle[0]: cannot tell which path this nuts handler is mounted at: it matches several paths (/a/* /b/*); set "path_prefix": "/events" (the path before the topic)',
    );
  });

  it("rejects text that is not JSON", () => {
    expect(jsonError("{ nope")).toMatch(/^config\.json: not valid JSON: /);
  });

  it("keeps secrets out of the Caddy config", () => {
    const adapted = adaptJson(
      config({ handler: "nuts", stream_name: "E", nats_token: "tok-SECRET" }),
      "config.json",
      { listen },
    );
    expect(JSON.stringify(adapted.caddy)).not.toContain("SECRET");
    expect(adapted.sidecar.routes["route-1"]?.nats_token).toBe("tok-SECRET");
  });
});
