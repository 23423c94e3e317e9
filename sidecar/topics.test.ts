import { describe, expect, it } from "vitest";
import { RequestError } from "./errors.js";
import { checkTopic, MAX_TOPIC_BYTES, requestedTopics, subjectOf, topicOf } from "./topics.js";

/** The JSON body and status a refused request gets. */
function refusal(run: () => unknown): { status: number; body: unknown } {
  try {
    run();
  } catch (error) {
    if (error instanceof RequestError) return { status: error.status, body: error.toJSON() };
    throw error;
  }
  throw new Error("expected a RequestError");
}

describe("checkTopic", () => {
  it.each(["orders", "chat.room-1", "a_b.C-9.x", "a".repeat(MAX_TOPIC_BYTES)])(
    "accepts %j",
    (topic) => {
      expect(checkTopic(topic)).toBe(topic);
    },
  );

  it.each([
    ["", "is empty"],
    ["a b", "may not contain spaces"],
    ["a\tb", "may not contain spaces"],
    ["orders.*", "may not contain the wildcards * or > (they need subscriber authorization)"],
    [">", "may not contain the wildcards * or > (they need subscriber authorization)"],
    ["a\u0000b", "may not contain control characters"],
    ["a\u007fb", "may not contain control characters"],
    [".a", "may not have empty parts (a leading, trailing or double dot)"],
    ["a.", "may not have empty parts (a leading, trailing or double dot)"],
    ["a..b", "may not have empty parts (a leading, trailing or double dot)"],
    ["a/b", "may only hold letters, digits, '_' and '-', in parts separated by single dots"],
    ["café", "may only hold letters, digits, '_' and '-', in parts separated by single dots"],
  ])("refuses %j: %s", (topic, what) => {
    expect(refusal(() => checkTopic(topic))).toEqual({
      status: 400,
      body: { error: "invalid_topic", message: `topic ${JSON.stringify(topic)} ${what}` },
    });
  });

  it("quotes a long topic cut short, so the error stays small", () => {
    expect(refusal(() => checkTopic("a".repeat(MAX_TOPIC_BYTES + 1)))).toEqual({
      status: 400,
      body: {
        error: "invalid_topic",
        message: `topic "${"a".repeat(80)}…" (257 characters) is longer than 256 bytes`,
      },
    });
  });

  it("gives the exact message for a topic with a space", () => {
    expect(refusal(() => checkTopic("a b")).body).toEqual({
      error: "invalid_topic",
      message: 'topic "a b" may not contain spaces',
    });
  });
});

describe("requestedTopics", () => {
  it("takes every topic query parameter, in order, without duplicates", () => {
    expect(requestedTopics(["b", "a", "b"], "/events/ignored", "/events", 32)).toEqual(["b", "a"]);
  });

  it("takes the topic from the path after the prefix, slashes becoming dots", () => {
    expect(requestedTopics([], "/events/my-topic", "/events", 32)).toEqual(["my-topic"]);
    expect(requestedTopics([], "/events/chat/room-1", "/events", 32)).toEqual(["chat.room-1"]);
    expect(requestedTopics([], "/orders", "", 32)).toEqual(["orders"]);
    expect(requestedTopics([], "/events//x", "/events", 32)).toEqual(["x"]);
  });

  it("decodes percent escapes in the path and then checks the topic", () => {
    expect(requestedTopics([], "/events/room%2D1", "/events", 32)).toEqual(["room-1"]);
    expect(refusal(() => requestedTopics([], "/events/a%20b", "/events", 32)).body).toEqual({
      error: "invalid_topic",
      message: 'topic "a b" may not contain spaces',
    });
    expect(refusal(() => requestedTopics([], "/events/a%zz", "/events", 32)).body).toEqual({
      error: "invalid_topic",
      message: `topic "a%zz" may only hold letters, digits, '_' and '-', in parts separated by single dots`,
    });
  });

  it.each([
    ["/events", "/events"],
    ["/events/", "/events"],
    ["/eventsx/a", "/events"],
    ["/other/a", "/events"],
    ["/", ""],
  ])("finds no topic in path %j under prefix %j", (path, prefix) => {
    expect(refusal(() => requestedTopics([], path, prefix, 32))).toEqual({
      status: 400,
      body: {
        error: "missing_topic",
        message: "name a topic: ?topic=orders (repeat for more) or a path such as /events/orders",
      },
    });
  });

  it("refuses more distinct topics than allowed, counting duplicates once", () => {
    expect(requestedTopics(["a", "b", "a"], "/", "", 2)).toEqual(["a", "b"]);
    expect(refusal(() => requestedTopics(["a", "b", "c"], "/", "", 2))).toEqual({
      status: 400,
      body: { error: "too_many_topics", message: "at most 2 topics per connection, got 3" },
    });
  });

  it("refuses the request when any one topic is invalid", () => {
    expect(refusal(() => requestedTopics(["good", "bad>"], "/", "", 32)).body).toEqual({
      error: "invalid_topic",
      message:
        'topic "bad>" may not contain the wildcards * or > (they need subscriber authorization)',
    });
  });
});

describe("subjects", () => {
  it("prefixes topics and strips the prefix from subjects", () => {
    expect(subjectOf("events.", "chat.room-1")).toBe("events.chat.room-1");
    expect(subjectOf("", "orders")).toBe("orders");
    expect(topicOf("events.", "events.chat.room-1")).toBe("chat.room-1");
    expect(topicOf("", "orders")).toBe("orders");
  });
});
