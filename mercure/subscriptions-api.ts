import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { Bindings } from "../sidecar/event-stream.js";
import { describe } from "../sidecar/transport.js";
import { hubCorsHeaders } from "./cors.js";
import { HubError, HubErrorCode } from "./errors.js";
import type { MercureHub } from "./hub.js";
import type { Selector } from "./selector.js";
import { JSONLD_CONTEXT, queryUnescape } from "./subscriptions.js";
import { tokenOf } from "./tokens.js";

type HubContext = Context<{ Bindings: Bindings }>;

/**
 * `GET <hub>/subscriptions[/<topic>[/<subscriber>]]`: the active subscriptions on every node,
 * as Mercure's hub lists them (JSON-LD, `lastEventID` the hub's last update, also the ETag).
 * With a subscriber key, the token's `mercure.subscribe` must match the request's path.
 */
export async function subscriptionsApi(
  hub: MercureHub,
  c: HubContext,
  segments: string[],
): Promise<Response> {
  const registry = hub.subscriptions;
  if (registry === null || segments.length > 2) {
    throw new HubError(
      404,
      HubErrorCode.NotFound,
      "nothing here; the hub lists subscriptions at <hub>/subscriptions[/<topic>[/<subscriber>]] when its subscriptions option is on",
    );
  }
  const url = new URL(c.req.url);
  await authorize(hub, c, url.pathname);
  let topic: string | undefined;
  let subscriber: string | undefined;
  try {
    topic = segments[0] === undefined ? undefined : queryUnescape(segments[0]);
    subscriber = segments[1] === undefined ? undefined : queryUnescape(segments[1]);
  } catch {
    throw new HubError(400, HubErrorCode.InvalidTopic, "a path segment is not validly escaped");
  }
  let listed: Awaited<ReturnType<typeof registry.list>>;
  try {
    listed = await registry.list(topic);
  } catch (error) {
    throw new HubError(
      503,
      HubErrorCode.Unavailable,
      `the subscriptions cannot be read right now (${describe(error)}); retry shortly`,
      { "Retry-After": "2" },
    );
  }
  const headers = {
    "Content-Type": "application/ld+json",
    ETag: `"${listed.lastEventID}"`,
    ...hubCorsHeaders(hub.config, c.req.header("origin")),
  };
  if (subscriber !== undefined) {
    const found = listed.subscriptions.find((each) => each.subscriber === subscriber);
    if (found === undefined) {
      throw new HubError(
        404,
        HubErrorCode.NotFound,
        "no active subscription of that subscriber to that topic",
      );
    }
    return c.body(
      JSON.stringify(
        { "@context": JSONLD_CONTEXT, ...found, lastEventID: listed.lastEventID },
        null,
        2,
      ),
      200,
      headers,
    );
  }
  return c.body(
    JSON.stringify(
      {
        "@context": JSONLD_CONTEXT,
        id: url.pathname,
        type: "Subscriptions",
        lastEventID: listed.lastEventID,
        subscriptions: listed.subscriptions,
      },
      null,
      2,
    ),
    200,
    headers,
  );
}

async function authorize(hub: MercureHub, c: HubContext, path: string): Promise<void> {
  if (hub.subscriberTokens === null) return;
  const source = tokenOf(
    c.req.header("authorization"),
    getCookie(c, hub.config.cookieName),
    c.req.query("authorization"),
  );
  if (source.type === "none") {
    throw new HubError(
      401,
      HubErrorCode.Unauthorized,
      `the subscriptions API needs a subscriber token whose mercure.subscribe matches ${path}`,
      { "WWW-Authenticate": 'Bearer realm="mercure"' },
    );
  }
  const claim = await hub.subscriberTokens.claim(source.token);
  const selectors: Selector[] = [];
  for (const text of claim.subscribe ?? []) {
    try {
      selectors.push(hub.selectors.compile(text));
    } catch {
      // grants nothing
    }
  }
  if (!hub.selectors.matchesAny(selectors, [path])) {
    throw new HubError(
      403,
      HubErrorCode.Forbidden,
      `the token's mercure.subscribe does not match ${path.slice(0, 256)}`,
    );
  }
}
