import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { Bindings } from "../sidecar/event-stream.js";
import { describe } from "../sidecar/transport.js";
import { hubCorsHeaders } from "./cors.js";
import { HubError, HubErrorCode } from "./errors.js";
import type { MercureHub } from "./hub.js";
import { checkText, type Selector } from "./selector.js";
import { tokenOf } from "./tokens.js";
import { generateId, idSubject, type Update, updateHeaders } from "./update.js";

/** Most `topic` fields of one update. */
export const MAX_UPDATE_TOPICS = 64;
const PUBLISH_TIMEOUT_MS = 5_000;

type HubContext = Context<{ Bindings: Bindings }>;

/**
 * `POST <hub>` with a form (`topic`, `data`, `private`, `id`, `type`, `retry`): checks the
 * publisher's token and the fields, stores the update in the stream, and answers with its id
 * once JetStream has it.
 */
export async function publish(hub: MercureHub, c: HubContext): Promise<Response> {
  const claim = await authorizePublisher(hub, c);
  const form = await readForm(hub, c);
  const update = updateOf(form);
  const publishable = claim
    .map((text) => {
      try {
        return hub.selectors.compile(text);
      } catch {
        return undefined;
      }
    })
    .filter((each): each is Selector => each !== undefined);
  for (const topic of update.topics) {
    if (!hub.selectors.matchesAny(publishable, [topic])) {
      throw new HubError(
        403,
        HubErrorCode.Forbidden,
        `the token may not publish to ${JSON.stringify(topic.slice(0, 256))}`,
      );
    }
  }
  const subject = idSubject(hub.config.subjectPrefix, update.id);
  let js: Awaited<ReturnType<MercureHub["transport"]["connected"]>>["js"];
  try {
    ({ js } = await hub.transport.connected(AbortSignal.timeout(PUBLISH_TIMEOUT_MS)));
  } catch {
    throw new HubError(
      503,
      HubErrorCode.Unavailable,
      "NATS is not reachable right now; retry shortly",
      { "Retry-After": "2" },
    );
  }
  try {
    await js.publish(subject, update.data, {
      headers: updateHeaders(update),
      // An id names one update: a publisher-chosen id already in the stream is refused, so a
      // Last-Event-ID always means one place in the history.
      expect: { lastSubjectSequence: 0 },
      timeout: PUBLISH_TIMEOUT_MS,
    });
  } catch (error) {
    const reason = describe(error);
    if (/wrong last sequence/i.test(reason)) {
      throw new HubError(
        409,
        HubErrorCode.IdInUse,
        `an update with id ${JSON.stringify(update.id.slice(0, 256))} is already in the hub's history; ids must be unique`,
      );
    }
    if (/maximum payload|max_payload|message size/i.test(reason)) {
      throw new HubError(
        413,
        HubErrorCode.TooLarge,
        "the update is larger than the NATS server accepts",
      );
    }
    hub.log.warn("mercure publish failed", { hub: hub.config.name, reason });
    throw new HubError(
      503,
      HubErrorCode.Unavailable,
      "the update could not be stored; retry shortly",
      { "Retry-After": "2" },
    );
  }
  return c.body(update.id, 200, {
    "Content-Type": "text/plain; charset=utf-8",
    ...hubCorsHeaders(hub.config, c.req.header("origin")),
  });
}

/**
 * The publish selectors of the request's token. A token from the cookie is accepted only from
 * a page of a `publish_origins` origin (a browser sends the cookie on cross-site forms too).
 */
async function authorizePublisher(hub: MercureHub, c: HubContext): Promise<string[]> {
  const source = tokenOf(
    c.req.header("authorization"),
    getCookie(c, hub.config.cookieName),
    undefined,
  );
  if (source.type === "none") {
    throw new HubError(
      401,
      HubErrorCode.Unauthorized,
      "publishing needs a publisher token in an Authorization: Bearer header",
      { "WWW-Authenticate": 'Bearer realm="mercure"' },
    );
  }
  if (source.type === "cookie") {
    const origin = c.req.header("origin") ?? originOf(c.req.header("referer"));
    const allowed = hub.config.publishOrigins;
    if (origin === undefined || !(allowed.includes("*") || allowed.includes(origin))) {
      throw new HubError(
        403,
        HubErrorCode.ForbiddenOrigin,
        "publishing with the cookie is allowed only from the hub's publish_origins",
      );
    }
  }
  const claim = await hub.publisherTokens.claim(source.token);
  if (claim.publish === undefined) {
    throw new HubError(403, HubErrorCode.Forbidden, 'the token has no "mercure.publish" claim');
  }
  return claim.publish;
}

function originOf(referer: string | undefined): string | undefined {
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}

/** The form, read up to the hub's body limit (413 past it, before anything is parsed). */
async function readForm(hub: MercureHub, c: HubContext): Promise<URLSearchParams> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new HubError(
      400,
      HubErrorCode.InvalidData,
      "publish with Content-Type: application/x-www-form-urlencoded",
    );
  }
  const limit = hub.config.maxBodyBytes;
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of c.env.incoming as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) {
      c.env.incoming.destroy();
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return new URLSearchParams(text);
}

function tooLarge(limit: number): HubError {
  return new HubError(
    413,
    HubErrorCode.TooLarge,
    `the request body is larger than ${limit} bytes (max_request_body_size)`,
  );
}

/** The update the form describes, with every field checked as the spec requires. */
export function updateOf(form: URLSearchParams): Update {
  const topics = form.getAll("topic");
  if (topics.length === 0)
    throw new HubError(400, HubErrorCode.MissingTopic, 'publish with at least one "topic" field');
  if (topics.length > MAX_UPDATE_TOPICS) {
    throw new HubError(
      413,
      HubErrorCode.TooLarge,
      `at most ${MAX_UPDATE_TOPICS} topics per update, got ${topics.length}`,
    );
  }
  for (const topic of topics) {
    field(HubErrorCode.InvalidTopic, "topic", topic);
    if (topic === "")
      throw new HubError(400, HubErrorCode.InvalidTopic, "a topic may not be empty");
  }
  const id = form.get("id");
  if (id !== null) {
    field(HubErrorCode.InvalidId, "id", id);
    if (id === "" || id.startsWith("#") || id === "earliest") {
      throw new HubError(
        400,
        HubErrorCode.InvalidId,
        'an id may not be empty, start with "#" or be "earliest"',
      );
    }
  }
  const type = form.get("type");
  if (type !== null) {
    field(HubErrorCode.InvalidType, "type", type);
    if (type === "mercure")
      throw new HubError(
        400,
        HubErrorCode.InvalidType,
        'the type "mercure" is reserved for the hub',
      );
  }
  const retry = form.get("retry");
  if (retry !== null && !/^\d{1,10}$/.test(retry)) {
    throw new HubError(
      400,
      HubErrorCode.InvalidRetry,
      `retry takes milliseconds as digits, got ${JSON.stringify(retry.slice(0, 32))}`,
    );
  }
  const data = form.get("data") ?? "";
  return {
    id: id ?? generateId(),
    topics,
    data,
    private: form.has("private"),
    ...(type === null || type === "" ? {} : { type }),
    ...(retry === null ? {} : { retry: Number(retry) }),
  };
}

function field(code: HubErrorCode, name: string, value: string): void {
  try {
    checkText(name, value);
  } catch (error) {
    const status = value.length > 2048 ? 413 : 400;
    throw new HubError(
      status,
      status === 413 ? HubErrorCode.TooLarge : code,
      (error as Error).message,
    );
  }
}
