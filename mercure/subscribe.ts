import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { type Bindings, openEventStream } from "../sidecar/event-stream.js";
import { Subscriber } from "../sidecar/subscriber.js";
import { describe } from "../sidecar/transport.js";
import { hubCorsHeaders } from "./cors.js";
import { HubError, HubErrorCode } from "./errors.js";
import { MercureFilter } from "./filter.js";
import { EARLIEST, type Resume, resumeFrom } from "./history.js";
import type { MercureHub } from "./hub.js";
import { checkText, type Selector, SelectorError } from "./selector.js";
import { tokenOf } from "./tokens.js";
import { generateId } from "./update.js";

/** Most topic selectors in one subscription. */
export const MAX_SELECTORS = 64;
const STARTING_GRACE_MS = 3_000;
const CLOSED = new Error("the subscriber's stream ended");
/** Mercure's hub opens the stream with an empty comment, which flushes the head through proxies. */
const OPENING = new TextEncoder().encode(":\n");

type HubContext = Context<{ Bindings: Bindings }>;

/**
 * `GET <hub>?topic=<selector>&topic=...`: the subscriber's event stream. Selectors, token and
 * cursor are checked before any NATS work; then the updates after the cursor (from the ring or
 * the stream), then live updates, through the shared fan-out core.
 */
export async function subscribe(hub: MercureHub, c: HubContext): Promise<Response> {
  const url = new URL(c.req.url);
  const requested = selectorTexts(url.searchParams);
  const texts = requested.map((each) => each.text);
  const selectors = requested.map((each) =>
    each.exact ? ({ type: "exact", topic: each.text } as const) : compile(hub, each.text),
  );
  for (const each of requested) if (each.exact) checkSelectorText(each.text);
  const { allowed, payload } = await authorizeSubscriber(hub, c);
  const cursor =
    c.req.header("last-event-id") ??
    url.searchParams.get("lastEventID") ??
    url.searchParams.get("last_event_id") ??
    undefined;
  if (cursor !== undefined) {
    try {
      checkText("Last-Event-ID", cursor);
    } catch (error) {
      throw new HubError(400, HubErrorCode.InvalidId, (error as Error).message);
    }
  }
  await hub.source.whenReady(STARTING_GRACE_MS);
  if (!hub.source.isAvailable()) {
    throw new HubError(
      503,
      HubErrorCode.Unavailable,
      "the hub's NATS stream is not reachable right now; retry shortly",
      {
        "Retry-After": "2",
      },
    );
  }
  let resume: Resume | undefined;
  if (cursor !== undefined) {
    try {
      resume = await resumeFrom(hub, cursor === "" ? EARLIEST : cursor);
    } catch (error) {
      throw new HubError(
        503,
        HubErrorCode.Unavailable,
        `the hub's history cannot be read right now (${describe(error)}); retry shortly`,
        { "Retry-After": "2" },
      );
    }
  }
  open(hub, c, new MercureFilter(selectors, allowed, hub.selectors, texts), resume, payload);
  return RESPONSE_ALREADY_SENT;
}

/** Selectors of `topic` (exact, URI template or `*`) and of the newer draft's `match`/`match_exact`. */
function selectorTexts(params: URLSearchParams): { text: string; exact: boolean }[] {
  const texts: { text: string; exact: boolean }[] = [];
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (name === "topic" || name === "match" || name === "match_exact") {
      const exact = name !== "topic";
      const key = `${exact}:${value}`;
      if (!seen.has(key)) texts.push({ text: value, exact });
      seen.add(key);
    } else if (name.toLowerCase().startsWith("match")) {
      throw new HubError(
        400,
        HubErrorCode.UnsupportedMatcher,
        `the matcher parameter "${name.slice(0, 64)}" is not supported; use topic (exact topics, URI templates, *) or match (exact)`,
      );
    }
  }
  if (texts.length === 0) {
    throw new HubError(
      400,
      HubErrorCode.MissingTopic,
      'subscribe with at least one "topic" parameter',
    );
  }
  if (seen.size > MAX_SELECTORS) {
    throw new HubError(
      400,
      HubErrorCode.TooManySelectors,
      `at most ${MAX_SELECTORS} topic selectors per subscription, got ${texts.length}`,
    );
  }
  return texts;
}

function checkSelectorText(text: string): void {
  try {
    checkText("topic selector", text);
  } catch (error) {
    throw new HubError(400, HubErrorCode.InvalidSelector, (error as Error).message);
  }
}

function compile(hub: MercureHub, text: string): Selector {
  try {
    return hub.selectors.compile(text);
  } catch (error) {
    if (error instanceof SelectorError)
      throw new HubError(400, HubErrorCode.InvalidSelector, error.message);
    throw error;
  }
}

/**
 * The selectors of private updates this subscriber may receive: its token's `mercure.subscribe`
 * claim. No token: anonymous (public updates only) where the hub allows it, else 401.
 */
async function authorizeSubscriber(
  hub: MercureHub,
  c: HubContext,
): Promise<{ allowed: Selector[]; payload?: unknown }> {
  const source = tokenOf(
    c.req.header("authorization"),
    getCookie(c, hub.config.cookieName),
    c.req.query("authorization"),
  );
  if (source.type === "none") {
    if (hub.config.anonymous) return { allowed: [] };
    throw new HubError(
      401,
      HubErrorCode.Unauthorized,
      `this hub needs a subscriber token: send it in an Authorization: Bearer header or the ${hub.config.cookieName} cookie`,
      { "WWW-Authenticate": 'Bearer realm="mercure"' },
    );
  }
  if (hub.subscriberTokens === null) {
    if (hub.config.anonymous) return { allowed: [] };
    throw new HubError(401, HubErrorCode.Unauthorized, "this hub has no subscriber key");
  }
  const claim = await hub.subscriberTokens.claim(source.token);
  const allowed: Selector[] = [];
  for (const text of claim.subscribe ?? []) {
    try {
      allowed.push(hub.selectors.compile(text));
    } catch {
      // a claim selector that does not compile grants nothing
    }
  }
  return { allowed, payload: claim.payload };
}

function open(
  hub: MercureHub,
  c: HubContext,
  filter: MercureFilter,
  resume: Resume | undefined,
  payload: unknown,
): void {
  const sink = openEventStream(c.env, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "private, no-cache, no-store, must-revalidate, max-age=0",
    "X-Accel-Buffering": "no",
    ...(resume === undefined
      ? {}
      : { "Last-Event-ID": resume.lastEventId, "Mercure-Last-Event-ID": resume.lastEventId }),
    ...hubCorsHeaders(hub.config, c.req.header("origin")),
  });
  if (sink === undefined) return;
  const position = resume?.position ?? hub.source.head;
  const id = generateId();
  let abort: AbortController | undefined = new AbortController();
  const subscriber = new Subscriber(sink, {
    topics: [],
    filter,
    position,
    writeTimeoutMs: hub.config.writeTimeoutMs,
    maxBufferedBytes: hub.config.maxBufferedBytes,
    onClose: (reason) => {
      abort?.abort(CLOSED);
      hub.source.detach(subscriber);
      hub.remove(subscriber);
      hub.subscriptions?.leave(id);
      if (reason.type !== "client_left" && reason.type !== "shutdown") {
        hub.log.info("mercure subscriber stream ended", {
          hub: hub.config.name,
          reason: reason.type,
        });
      }
    },
  });
  hub.add(subscriber);
  hub.subscriptions?.join(id, filter.patterns, payload);
  subscriber.write(OPENING);
  sink.uncork();
  hub.source.attach(subscriber, abort.signal, null).then(
    () => {
      abort = undefined;
    },
    (error) => {
      abort = undefined;
      hub.log.warn("mercure replay failed; the subscriber will resume", {
        hub: hub.config.name,
        reason: describe(error),
      });
      subscriber.close({ type: "replay_failed", message: describe(error) });
    },
  );
}
