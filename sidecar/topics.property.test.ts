/**
 * Property tests for the topic rules: whatever a client sends as a topic (query parameter or
 * path), the sidecar either subscribes to a subject inside the route's prefix that holds no
 * wildcard, white space or control character, or refuses the request with a 400 that names
 * the topic.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RequestError } from "./errors.js";
import { checkTopic, MAX_TOPIC_BYTES, requestedTopics, subjectOf } from "./topics.js";

/** Fixed seed so CI runs the same cases every time; raise numRuns locally to dig deeper. */
const RUNS = { seed: 0x5eed_0005, numRuns: 1000 };

const SAFE_TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const UNSAFE_IN_SUBJECT = /[\s*>\u0000-\u001f\u007f]/;
const PREFIXES = ["", "events.", "a.b-c_d."];

/** Characters a hostile client likes: NATS wildcards, dots, separators, controls, non-ASCII. */
const nastyChar = fc.constantFrom(
  ".",
  "*",
  ">",
  " ",
  "\t",
  "\r",
  "\n",
  "\u0000",
  "\u007f",
  "/",
  "%",
  "\\",
  "é",
  "\u2028",
  "\ufeff",
  "\ud800",
  "a",
  "Z",
  "0",
  "_",
  "-",
);

/** Mostly topic-like strings with hostile characters mixed in, plus fully arbitrary strings. */
const anyTopic = fc.oneof(
  fc.string({ unit: nastyChar, maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,20}(\.[A-Za-z0-9_-]{1,20}){0,4}$/),
  // Around the length limit.
  fc.integer({ min: MAX_TOPIC_BYTES - 3, max: MAX_TOPIC_BYTES + 3 }).map((n) => "a".repeat(n)),
  fc
    .tuple(fc.integer({ min: 1, max: 130 }), fc.constantFrom("é", "ab", "a.b"))
    .map(([n, unit]) => unit.repeat(n)),
);

/** The outcome of a call: the value, or the RequestError it threw (anything else fails the test). */
function outcome<T>(run: () => T): { ok: T } | { refused: RequestError } {
  try {
    return { ok: run() };
  } catch (error) {
    if (error instanceof RequestError) return { refused: error };
    throw error;
  }
}

function expectSafeSubject(prefix: string, topic: string): void {
  expect(topic).toMatch(SAFE_TOPIC);
  expect(Buffer.byteLength(topic)).toBeLessThanOrEqual(MAX_TOPIC_BYTES);
  const subject = subjectOf(prefix, topic);
  expect(subject.startsWith(prefix)).toBe(true);
  expect(subject).not.toMatch(UNSAFE_IN_SUBJECT);
  expect(subject.slice(prefix.length)).toBe(topic);
}

describe("checkTopic (property)", () => {
  it("accepts exactly the safe topics, unchanged, and names any other in a 400", () => {
    fc.assert(
      fc.property(anyTopic, fc.constantFrom(...PREFIXES), (topic, prefix) => {
        const result = outcome(() => checkTopic(topic));
        const safe = SAFE_TOPIC.test(topic) && Buffer.byteLength(topic) <= MAX_TOPIC_BYTES;
        if ("ok" in result) {
          expect(safe).toBe(true);
          expect(result.ok).toBe(topic);
          expectSafeSubject(prefix, result.ok);
        } else {
          expect(safe).toBe(false);
          expect(result.refused.status).toBe(400);
          expect(result.refused.code).toBe("invalid_topic");
          // Long topics are quoted cut short (80 characters) so that error bodies stay small.
          const quote =
            topic.length > 80
              ? JSON.stringify(topic.slice(0, 80)).slice(0, -1)
              : `${JSON.stringify(topic)} `;
          expect(result.refused.message.startsWith(`topic ${quote}`)).toBe(true);
          // The JSON body a client gets is well formed whatever the topic held.
          const body = JSON.parse(JSON.stringify(result.refused.toJSON()));
          expect(body).toEqual({ error: "invalid_topic", message: result.refused.message });
        }
      }),
      RUNS,
    );
  });
});

describe("requestedTopics (property)", () => {
  it("from query parameters: safe, distinct, at most max_topics, or a 400", () => {
    fc.assert(
      fc.property(
        fc.array(anyTopic, { maxLength: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom(...PREFIXES),
        (queryTopics, maxTopics, prefix) => {
          const result = outcome(() =>
            requestedTopics(queryTopics, "/events", "/events", maxTopics),
          );
          if ("ok" in result) {
            expect(result.ok.length).toBeGreaterThan(0);
            expect(result.ok.length).toBeLessThanOrEqual(maxTopics);
            expect(new Set(result.ok).size).toBe(result.ok.length);
            expect(new Set(result.ok)).toEqual(new Set(queryTopics));
            for (const topic of result.ok) expectSafeSubject(prefix, topic);
          } else {
            expect(result.refused.status).toBe(400);
            const distinct = new Set(queryTopics);
            const firstBad = queryTopics.find(
              (topic) => !(SAFE_TOPIC.test(topic) && topic.length <= MAX_TOPIC_BYTES),
            );
            if (queryTopics.length === 0) expect(result.refused.code).toBe("missing_topic");
            else if (firstBad !== undefined) {
              expect(result.refused.code).toBe("invalid_topic");
              expect(result.refused.message).toContain(
                JSON.stringify(firstBad.slice(0, 80)).slice(0, -1),
              );
            } else {
              expect(result.refused.code).toBe("too_many_topics");
              expect(distinct.size).toBeGreaterThan(maxTopics);
            }
          }
        },
      ),
      RUNS,
    );
  });

  /** A path segment as a client might send it: raw, percent-encoded, or with stray escapes. */
  const segment = fc.oneof(
    anyTopic.map((text) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, "x"))),
    fc.string({ unit: nastyChar, maxLength: 12 }).map((text) => text.replaceAll("/", "")),
    fc.constantFrom("..", ".", "%2e%2e", "%2E", "%2f", "%2F", "%00", "%0d%0a", "%zz", "%", "%e9"),
    fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/),
  );

  it("from the path: never a subject outside the prefix, whatever the (encoded) segments", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("/events", "/api/events", ""),
        fc.array(segment, { minLength: 0, maxLength: 6 }),
        fc.constantFrom(...PREFIXES),
        (pathPrefix, segments, prefix) => {
          const path = `${pathPrefix}/${segments.join("/")}`;
          const result = outcome(() => requestedTopics([], path, pathPrefix, 32));
          if ("ok" in result) {
            expect(result.ok).toHaveLength(1);
            expectSafeSubject(prefix, result.ok[0] as string);
          } else {
            expect(result.refused.status).toBe(400);
            expect(["invalid_topic", "missing_topic"]).toContain(result.refused.code);
          }
        },
      ),
      RUNS,
    );
  });

  it("from the path: a path outside the route's prefix names no topic", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("/eventsx/a", "/other/a", "/event/a", "/EVENTS/a", "/%65vents/a"),
        (path) => {
          const result = outcome(() => requestedTopics([], path, "/events", 32));
          expect("refused" in result && result.refused.code).toBe("missing_topic");
        },
      ),
      { seed: RUNS.seed, numRuns: 20 },
    );
  });

  it("never returns more than max_topics, however many the client repeats", () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-c]{1,3}$/), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 16 }),
        (queryTopics, maxTopics) => {
          const result = outcome(() => requestedTopics(queryTopics, "/", "", maxTopics));
          const distinct = new Set(queryTopics).size;
          if (distinct <= maxTopics) expect(result).toEqual({ ok: [...new Set(queryTopics)] });
          else expect("refused" in result && result.refused.code).toBe("too_many_topics");
        },
      ),
      RUNS,
    );
  });

  // README: "encoded dots in a path are refused". An encoded dot inside one path segment is
  // decoded and then read as a topic separator: /events/a%2eb subscribes to a.b, as /events/a/b
  // does. It stays inside the prefix (no escape), but contradicts the documented contract.
  it("refuses an encoded dot inside a path segment (README contract)", () => {
    const result = outcome(() => requestedTopics([], "/events/a%2eb", "/events", 32));
    expect("refused" in result && result.refused.code).toBe("invalid_topic");
  });
});
