import type { Context } from "hono";
import { ErrorCode, RequestError } from "./errors.js";
import type { Hub } from "./hub.js";
import type { SidecarEnv } from "./subscribe.js";
import { requestedTopics, subjectOf } from "./topics.js";

const MAX_BODY_BYTES = 1 << 20;

/**
 * `POST <path>?topic=t` with the message as the body, on routes with `publish` on (the demo
 * page uses it). Answers `{"topic": ..., "seq": ...}` once JetStream has stored the message.
 */
export function publishHandler(hub: Hub) {
  return async (c: Context<SidecarEnv>): Promise<Response> => {
    const route = c.get("route");
    if (!route.publish) {
      throw new RequestError(
        405,
        ErrorCode.PublishDisabled,
        "publishing is off for this route; turn it on with `publish`",
      );
    }
    const rawPath = (c.env.incoming.url ?? "/").split("?")[0] ?? "/";
    const topics = requestedTopics(c.req.queries("topic") ?? [], rawPath, route.pathPrefix, 1);
    const topic = topics[0] as string;
    const declared = Number(c.req.header("content-length") ?? 0);
    if (declared > MAX_BODY_BYTES) throw tooLarge();
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.byteLength > MAX_BODY_BYTES) throw tooLarge();
    const connection = hub.transport(route).connection;
    if (!connection)
      throw new RequestError(
        503,
        ErrorCode.NatsUnavailable,
        "NATS is not reachable right now; retry shortly",
      );
    const ack = await connection.js.publish(subjectOf(route.topicPrefix, topic), body);
    return c.json({ topic, seq: ack.seq });
  };
}

function tooLarge(): RequestError {
  return new RequestError(
    413,
    ErrorCode.PayloadTooLarge,
    `a message may be at most ${MAX_BODY_BYTES} bytes`,
  );
}
