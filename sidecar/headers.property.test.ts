/**
 * Property tests for the request headers the sidecar reads (`X-Nuts-Route`, `Last-Event-ID`,
 * `Origin`), through the Hono app itself. NATS is unreachable on purpose: every request is
 * answered before any stream opens (400/404 from validation, 503 once the source is found
 * unavailable), so the status tells which way the header logic went.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSidecar, type Sidecar } from "./app.js";
import { resolveConfig } from "./config.js";
import { silentLogger } from "./log.js";

const RUNS = { seed: 0x5eed_0008, numRuns: 400 };

const LISTED_ORIGINS = ["https://app.example", "http://localhost:8080"];
const ROUTE_NAMES = ["events", "open"];

let sidecar: Sidecar;

beforeAll(() => {
  const base = {
    // Nothing listens on port 1: the transport fails at once and requests get a 503.
    nats_url: "nats://127.0.0.1:1",
    stream_name: "EVENTS",
    topic_prefix: "events.",
    path_prefix: "/events",
    reconnect_wait: 0.1,
  };
  sidecar = createSidecar(
    resolveConfig({
      routes: {
        events: { ...base, allowed_origins: LISTED_ORIGINS },
        open: base,
      },
    }),
    silentLogger,
  );
});

afterAll(async () => {
  await sidecar?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  body: { error?: string; message?: string };
}

/**
 * Sends a request the way @hono/node-server hands it over: the raw request target in
 * `incoming.url` (the handler reads the path from there), the parsed URL in the Request.
 */
async function send(target: string, headers: [string, string][], method = "GET"): Promise<Answer> {
  const request = new Request(`http://sidecar${target}`, { method, headers });
  const response = await sidecar.app.request(request, undefined, {
    incoming: { url: target },
    outgoing: undefined,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === "" ? {} : (JSON.parse(text) as Answer["body"]),
  };
}

/** Header values a client can put on the wire: no CR, LF or NUL (HTTP forbids them), bytes up to 0xFF. */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0x80, max: 0xff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom("\t", " ", '"', "\\", ",", "events", "open", "https://app.example"),
);
const headerValue = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 80 }),
  fc.constantFrom(
    ...ROUTE_NAMES,
    ...LISTED_ORIGINS,
    "",
    " events",
    "events ",
    "EVENTS",
    "*",
    "null",
  ),
  fc.constantFrom(...LISTED_ORIGINS).map((origin) => `${origin}/`),
);

/** What a server sees of a header value: HTTP strips leading and trailing spaces and tabs. */
function onTheWire(value: string): string {
  return value.replace(/^[\t ]+|[\t ]+$/g, "");
}

const WELL_FORMED_SEQUENCE = /^\d{1,16}$/;

function isSequence(text: string): boolean {
  return WELL_FORMED_SEQUENCE.test(text) && Number.isSafeInteger(Number(text));
}

describe("X-Nuts-Route (property)", () => {
  it("selects the named route, or answers 404 with a JSON body naming the header", async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(headerValue, { nil: undefined }), async (route) => {
        // An invalid topic: the answer comes from the route's validation, before NATS.
        const answer = await send(
          "/events?topic=a%20b",
          route === undefined ? [] : [["X-Nuts-Route", route]],
        );
        const seen = route === undefined ? undefined : onTheWire(route);
        if (seen !== undefined && ROUTE_NAMES.includes(seen)) {
          expect(answer.status).toBe(400);
          expect(answer.body.error).toBe("invalid_topic");
        } else if (seen === undefined || seen === "") {
          expect(answer.status).toBe(404);
          expect(answer.body.error).toBe("no_route");
        } else {
          expect(answer.status).toBe(404);
          expect(answer.body).toEqual({
            error: "unknown_route",
            message: `no route named ${JSON.stringify(seen.slice(0, 64))}`,
          });
        }
        expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
      }),
      RUNS,
    );
  });
});

describe("Last-Event-ID and last-id (property)", () => {
  const cursorText = fc.oneof(
    headerValue,
    fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }).map(String),
    fc.constantFrom("0", "42", " 42 ", "\t7", "-1", "99999999999999999999", "9007199254740992"),
  );

  it("a malformed header is ignored, a malformed query is a 400, the header wins", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(cursorText, { nil: undefined }),
        fc.option(cursorText, { nil: undefined }),
        async (header, query) => {
          const target = `/events?topic=orders${
            query === undefined ? "" : `&last-id=${encodeURIComponent(query)}`
          }`;
          const answer = await send(target, [
            ["X-Nuts-Route", "events"],
            ...(header === undefined ? [] : [["Last-Event-ID", header] as [string, string]]),
          ]);
          const headerOk = header !== undefined && isSequence(onTheWire(header).trim());
          const queryBad = query !== undefined && !isSequence(query);
          if (!headerOk && queryBad) {
            expect(answer.status).toBe(400);
            expect(answer.body.error).toBe("invalid_last_id");
            expect(answer.body.message).toContain(JSON.stringify((query as string).slice(0, 40)));
          } else {
            // Validation passed; NATS is down, so the source refuses with a 503.
            expect(answer.status).toBe(503);
            expect(answer.body.error).toBe("nats_unavailable");
            expect(answer.headers.get("retry-after")).toMatch(/^\d+$/);
          }
        },
      ),
      RUNS,
    );
  });
});

describe("Origin (property)", () => {
  const origin = fc.option(headerValue, { nil: undefined });

  function expectCors(headers: Headers, route: string, sent: string | undefined): void {
    const seen = sent === undefined ? undefined : onTheWire(sent);
    if (route === "open") {
      expect(headers.get("access-control-allow-origin")).toBe("*");
      expect(headers.get("access-control-allow-credentials")).toBeNull();
    } else if (seen !== undefined && LISTED_ORIGINS.includes(seen)) {
      expect(headers.get("access-control-allow-origin")).toBe(seen);
      expect(headers.get("access-control-allow-credentials")).toBe("true");
      expect(headers.get("vary")).toBe("Origin");
    } else {
      // Anything not listed exactly (other case, trailing slash, "null", "*") gets no grant.
      expect(headers.get("access-control-allow-origin")).toBeNull();
      expect(headers.get("access-control-allow-credentials")).toBeNull();
      expect(headers.get("vary")).toBe("Origin");
    }
  }

  it("error answers grant exactly the listed origins", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTE_NAMES), origin, async (route, sent) => {
        const answer = await send("/events?topic=*", [
          ["X-Nuts-Route", route],
          ...(sent === undefined ? [] : [["Origin", sent] as [string, string]]),
        ]);
        expect(answer.status).toBe(400);
        expect(answer.body.error).toBe("invalid_topic");
        expectCors(answer.headers, route, sent);
      }),
      RUNS,
    );
  });

  it("preflights grant exactly the listed origins and allow Last-Event-ID", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTE_NAMES), origin, async (route, sent) => {
        const answer = await send(
          "/events?topic=orders",
          [
            ["X-Nuts-Route", route],
            ["Access-Control-Request-Method", "GET"],
            ...(sent === undefined ? [] : [["Origin", sent] as [string, string]]),
          ],
          "OPTIONS",
        );
        expect(answer.status).toBe(204);
        expectCors(answer.headers, route, sent);
        expect(answer.headers.get("access-control-allow-headers")).toContain("Last-Event-ID");
      }),
      RUNS,
    );
  });
});

describe("any mix of headers (property)", () => {
  it("never fails the sidecar: every answer is a 4xx or 503 with a JSON error", async () => {
    const anyTarget = fc.constantFrom(
      "/events?topic=orders",
      "/events/orders",
      "/events/..%2fsecret",
      "/events/%2e%2e/secret",
      "/events?topic=%zz",
      "/events?topic=%00",
      "/events?topic",
      "/events?topic=&topic=",
      "/events?last-id=-1&topic=a",
      "/events",
      "/",
    );
    await fc.assert(
      fc.asyncProperty(
        anyTarget,
        fc.array(
          fc.tuple(
            fc.constantFrom("X-Nuts-Route", "Last-Event-ID", "Origin", "Accept-Language", "Cookie"),
            headerValue,
          ),
          { maxLength: 5 },
        ),
        fc.constantFrom("GET", "OPTIONS", "DELETE", "PUT"),
        async (target, headers, method) => {
          // Without an event-stream Accept header, nothing here writes to the raw response.
          const answer = await send(target, headers, method);
          expect([204, 400, 404, 405, 503]).toContain(answer.status);
          if (answer.status !== 204) {
            expect(typeof answer.body.error).toBe("string");
            expect(typeof answer.body.message).toBe("string");
          }
        },
      ),
      RUNS,
    );
  });
});
