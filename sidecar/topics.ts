import { ErrorCode, RequestError } from "./errors.js";

/** NATS-safe topic: tokens of [A-Za-z0-9_-] separated by single dots. */
const TOPIC = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
/** With authorization on: `*` may stand for a token, and a final `>` for one or more. */
const PATTERN = /^(?:[A-Za-z0-9_-]+|\*)(?:\.(?:[A-Za-z0-9_-]+|\*))*(?:\.>)?$|^>$/;
export const MAX_TOPIC_BYTES = 256;

/**
 * Checks one topic as a client sent it. Anything that could widen a subscription (`*`, `>`),
 * break a subject (spaces, empty tokens) or smuggle bytes (control characters) is refused, so
 * a client can never subscribe outside its route's prefix.
 */
export function checkTopic(topic: string, allowPatterns = false): string {
  if ((allowPatterns ? PATTERN : TOPIC).test(topic) && topic.length <= MAX_TOPIC_BYTES)
    return topic;
  throw new RequestError(
    400,
    ErrorCode.InvalidTopic,
    `topic ${quoted(topic)} ${whatIsWrong(topic, allowPatterns)}`,
  );
}

function whatIsWrong(topic: string, allowPatterns: boolean): string {
  if (topic === "") return "is empty";
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return `is longer than ${MAX_TOPIC_BYTES} bytes`;
  if (/[*>]/.test(topic)) {
    return allowPatterns
      ? "uses * or > wrongly: * stands alone for one part, > only as the last part"
      : "may not contain the wildcards * or > (they need subscriber authorization)";
  }
  if (/\s/.test(topic)) return "may not contain spaces";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting them is the point
  if (/[\u0000-\u001f\u007f]/.test(topic)) return "may not contain control characters";
  if (/^\.|\.$|\.\./.test(topic))
    return "may not have empty parts (a leading, trailing or double dot)";
  return "may only hold letters, digits, '_' and '-', in parts separated by single dots";
}

/**
 * The topics a request asks for: every `topic` query parameter, or else the path after the
 * route's path prefix, with slashes as dots (`/events/chat/room-1` -> `chat.room-1`).
 * Duplicates collapse; more than `maxTopics` distinct topics is refused.
 */
export function requestedTopics(
  queryTopics: string[],
  path: string,
  pathPrefix: string,
  maxTopics: number,
  allowPatterns = false,
): string[] {
  const raw = queryTopics.length > 0 ? queryTopics : pathTopic(path, pathPrefix);
  if (raw.length === 0) {
    throw new RequestError(
      400,
      ErrorCode.MissingTopic,
      "name a topic: ?topic=orders (repeat for more) or a path such as /events/orders",
    );
  }
  const topics = [...new Set(raw.map((topic) => checkTopic(topic, allowPatterns)))];
  if (topics.length > maxTopics) {
    throw new RequestError(
      400,
      ErrorCode.TooManyTopics,
      `at most ${maxTopics} topics per connection, got ${topics.length}`,
    );
  }
  return topics;
}

/** The topic named by the path, or none when the path is the prefix itself. */
function pathTopic(path: string, pathPrefix: string): string[] {
  if (path !== pathPrefix && !path.startsWith(`${pathPrefix}/`)) return [];
  const rest = path.slice(pathPrefix.length).replace(/^\/+/, "");
  if (rest === "") return [];
  const segments = rest.split("/").map((segment) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return segment; // a malformed escape stays as it is and fails the topic check
    }
    if (decoded.includes(".") && !segment.includes(".")) {
      throw new RequestError(
        400,
        ErrorCode.InvalidTopic,
        `path segment ${quoted(segment)} may not hold an encoded dot; separate topic parts with "/"`,
      );
    }
    return decoded;
  });
  return [segments.join(".")];
}

/** The NATS subject for a topic, and back. */
export function subjectOf(topicPrefix: string, topic: string): string {
  return topicPrefix + topic;
}

export function topicOf(topicPrefix: string, subject: string): string {
  return subject.slice(topicPrefix.length);
}

/** A client's text for an error message: JSON-quoted, and cut short so errors stay small. */
function quoted(text: string): string {
  return text.length > 80
    ? `${JSON.stringify(text.slice(0, 80)).slice(0, -1)}…" (${text.length} characters)`
    : JSON.stringify(text);
}
