/**
 * Property tests for SSE framing: whatever bytes a message holds and whatever an event's fields
 * hold, every frame parses, with the WHATWG event-stream rules, into exactly the event it was
 * built from; a frame never leaks into the next one.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeComment,
  encodeEvent,
  encodeMessage,
  HEARTBEAT,
  messageData,
  type SseEvent,
} from "./sse.js";

const RUNS = { seed: 0x5eed_0007, numRuns: 1000 };

// --- a spec-conformant parser ---------------------------------------------------------------

interface ParsedEvent {
  type: string;
  data: string;
  lastEventId: string;
}

interface ParsedStream {
  events: ParsedEvent[];
  /** The last valid `retry:` value, if any. */
  retry: number | undefined;
  /** Text after the last blank line: an event the server never finished. */
  unfinished: string;
}

/**
 * Interprets a whole event stream as the WHATWG HTML standard says ("9.2.6 Interpreting an event
 * stream"): UTF-8 decode (one leading BOM dropped), lines end at CRLF, LF or CR, a blank line
 * dispatches, `:` starts a comment, one space after the colon is dropped, `id` with NUL is
 * ignored, `retry` takes ASCII digits only, an event with an empty data buffer is not dispatched,
 * and an unfinished event at the end of the stream is discarded.
 */
function parseEventStream(bytes: Uint8Array): ParsedStream {
  const text = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false }).decode(bytes);
  const events: ParsedEvent[] = [];
  let retry: number | undefined;
  let data = "";
  let type = "";
  let lastEventId = "";
  let position = 0;
  let lineStart = 0;
  while (position < text.length) {
    const char = text[position];
    if (char !== "\r" && char !== "\n") {
      position++;
      continue;
    }
    const line = text.slice(lineStart, position);
    position += char === "\r" && text[position + 1] === "\n" ? 2 : 1;
    lineStart = position;
    if (line === "") {
      // Dispatch.
      if (data === "") {
        type = "";
        continue;
      }
      events.push({
        type: type === "" ? "message" : type,
        data: data.endsWith("\n") ? data.slice(0, -1) : data,
        lastEventId,
      });
      data = "";
      type = "";
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data += `${value}\n`;
    else if (field === "id") {
      if (!value.includes("\u0000")) lastEventId = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) retry = Number(value);
    }
  }
  return { events, retry, unfinished: text.slice(lineStart) };
}

/** What a string becomes once sent as UTF-8 (lone surrogates turn into U+FFFD). */
function asSent(text: string): string {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(new TextEncoder().encode(text));
}

// --- generators -----------------------------------------------------------------------------

/** Characters that break frames when mishandled. */
const framingChar = fc.constantFrom(
  "\r",
  "\n",
  "\r\n",
  "\n\n",
  "\u0000",
  ":",
  " ",
  "data: x",
  "id: 9",
  "event: evil",
  "retry: 1",
  "\ufeff",
  "\u2028",
  "\u0085",
  "\ud800",
  "é",
  "a",
  "{",
  '"',
  "\\",
);
const framingString = fc.oneof(
  fc.string({ unit: framingChar, maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ maxLength: 30 }),
);

/** JSON texts with line breaks, NUL escapes and unusual (but valid) white space around them. */
const jsonText = fc
  .tuple(
    fc.constantFrom("", " ", "\n", "\r\n", "\t", " \r "),
    fc.oneof(
      fc.json({ maxDepth: 4 }),
      fc.jsonValue().map((value) => JSON.stringify(value, null, 2)),
    ),
    fc.constantFrom("", " ", "\n", "\r\n", "\t"),
  )
  .map(([before, json, after]) => before + json + after);

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Payload bytes: anything at all, JSON, text with CR/LF/NUL, invalid UTF-8. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => Uint8Array.from([...bytes, 0xff, 0xc3, 0x0d])),
  jsonText.map(utf8),
  framingString.map(utf8),
  fc
    .constantFrom(
      "true",
      "false",
      "null",
      "-",
      "-1",
      "01",
      "1.",
      '"unterminated',
      "{}\n{}",
      "[1,2",
      "1e5",
      "-0.0",
    )
    .map(utf8),
  fc
    .integer({ min: 1, max: 1000 })
    .map((depth) => utf8(`${"[".repeat(depth)}${"]".repeat(depth)}`)),
);

const topic = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,8}(\.[A-Za-z0-9_-]{1,8}){0,3}$/),
  framingString,
);
const seq = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const time = fc.date({
  noInvalidDate: true,
  min: new Date("0000-01-01T00:00:00Z"),
  max: new Date("9999-12-31T23:59:59.999Z"),
});

/** What the `payload` of a message frame must be: the JSON value if the text parses, else the text. */
function expectedPayload(bytes: Uint8Array): unknown {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** JSON equality (no -0, no key-order concerns beyond what JSON.parse gives both sides). */
function sameJson(actual: unknown, expected: unknown): boolean {
  return JSON.stringify(actual) === JSON.stringify(expected);
}

// --- properties -----------------------------------------------------------------------------

describe("encodeMessage (property)", () => {
  it("parses into exactly one message event with the id, topic, payload and time", () => {
    fc.assert(
      fc.property(seq, topic, payload, time, (sequence, topicText, bytes, at) => {
        const frame = encodeMessage(sequence, topicText, bytes, at);
        const parsed = parseEventStream(frame);
        expect(parsed.unfinished).toBe("");
        expect(parsed.events).toHaveLength(1);
        const event = parsed.events[0] as ParsedEvent;
        expect(event.type).toBe("message");
        expect(event.lastEventId).toBe(String(sequence));
        // Exactly three lines and a blank one: no payload byte became a line break.
        expect(new TextDecoder().decode(frame).split("\n")).toHaveLength(5);
        const data = JSON.parse(event.data) as Record<string, unknown>;
        expect(Object.keys(data)).toEqual(["topic", "payload", "time"]);
        expect(data.topic).toBe(topicText);
        expect(data.time).toBe(at.toISOString());
        const expected = expectedPayload(bytes);
        expect(sameJson(data.payload, expected), `payload ${JSON.stringify(expected)}`).toBe(true);
        expect(typeof data.payload).toBe(typeof expected === "number" ? "number" : typeof expected);
      }),
      RUNS,
    );
  });

  it("gives the same data as messageData, the bytes every subscriber shares", () => {
    fc.assert(
      fc.property(seq, topic, payload, time, (sequence, topicText, bytes, at) => {
        const [event] = parseEventStream(encodeMessage(sequence, topicText, bytes, at)).events;
        expect(event?.data).toBe(messageData(topicText, bytes, at));
      }),
      { ...RUNS, numRuns: 300 },
    );
  });

  it("sends deeply nested JSON as JSON, on one line", () => {
    const depth = 20_000;
    const text = `${"[ ".repeat(depth)}${"]\n".repeat(depth)}`;
    const [event] = parseEventStream(encodeMessage(1, "deep", utf8(text), new Date(0))).events;
    expect(event?.data).toBe(
      `{"topic":"deep","payload":${"[".repeat(depth)}${"]".repeat(depth)},"time":"1970-01-01T00:00:00.000Z"}`,
    );
  });

  // Re-serialising through a double would send null for 1e400.
  it("keeps a JSON number too large for a double (1e400) instead of sending null", () => {
    const [event] = parseEventStream(encodeMessage(1, "big", utf8("1e400"), new Date(0))).events;
    expect(event?.data).toBe('{"topic":"big","payload":1e400,"time":"1970-01-01T00:00:00.000Z"}');
  });

  // Only JSON white space is trimmed: "\u00a042" is text, not the number 42.
  it("sends a text that only looks like JSON after non-JSON white space as a string", () => {
    const [event] = parseEventStream(encodeMessage(1, "t", utf8("\u00a042"), new Date(0))).events;
    expect((JSON.parse(event?.data ?? "") as { payload: unknown }).payload).toBe("\u00a042");
  });
});

/** Arbitrary events, including fields with CR, LF and NUL and multi-line data. */
const sseEvent: fc.Arbitrary<SseEvent> = fc.record(
  {
    id: fc.oneof(framingString, seq),
    event: framingString,
    data: framingString,
    retry: fc.oneof(
      fc.integer({ min: 0, max: 86_400_000 }),
      fc.double(),
      fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY, 1e21),
    ),
  },
  { requiredKeys: ["data"] },
);

/** The event a client must see for `event`: fields without CR/LF/NUL, data lines kept. */
function expectedEvent(event: SseEvent): ParsedEvent {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters a field may not hold
  const sanitized = (value: string) => asSent(value).replace(/[\r\n\u0000]/g, "");
  const type = event.event === undefined ? "" : sanitized(event.event);
  return {
    type: type === "" ? "message" : type,
    data: asSent(event.data).replace(/\r\n|\r/g, "\n"),
    lastEventId: event.id === undefined ? "" : sanitized(String(event.id)),
  };
}

describe("encodeEvent (property)", () => {
  it("round-trips: one event, id and event sanitised, every data line preserved", () => {
    fc.assert(
      fc.property(sseEvent, (event) => {
        const parsed = parseEventStream(encodeEvent(event));
        expect(parsed.unfinished).toBe("");
        expect(parsed.events).toEqual([expectedEvent(event)]);
        const retry = event.retry;
        if (retry !== undefined && Number.isInteger(retry) && retry >= 0 && retry < 1e21) {
          expect(parsed.retry).toBe(retry);
        }
      }),
      RUNS,
    );
  });

  it("frames never leak into each other: a stream of frames parses into the same events", () => {
    const frame = fc.oneof(
      sseEvent.map((event) => ({ bytes: encodeEvent(event), expected: [expectedEvent(event)] })),
      framingString.map((text) => ({ bytes: encodeComment(text), expected: [] })),
      fc.constant({ bytes: HEARTBEAT, expected: [] }),
      fc.tuple(seq, topic, payload, time).map(([sequence, topicText, bytes, at]) => ({
        bytes: encodeMessage(sequence, topicText, bytes, at),
        expected: [
          {
            type: "message",
            data: messageData(topicText, bytes, at),
            lastEventId: String(sequence),
          },
        ],
      })),
    );
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 12 }), (frames) => {
        const stream = Buffer.concat(frames.map((each) => each.bytes));
        const parsed = parseEventStream(stream);
        expect(parsed.unfinished).toBe("");
        // lastEventId carries over between events, as in a browser: compare type and data, then
        // the id of each event that set one.
        const expected = frames.flatMap((each) => each.expected);
        expect(parsed.events.map(({ type, data }) => ({ type, data }))).toEqual(
          expected.map(({ type, data }) => ({ type, data })),
        );
      }),
      { ...RUNS, numRuns: 500 },
    );
  });

  it("a comment dispatches nothing and stays on one line", () => {
    fc.assert(
      fc.property(framingString, (text) => {
        const bytes = encodeComment(text);
        expect(parseEventStream(bytes)).toEqual({ events: [], retry: undefined, unfinished: "" });
        const lines = new TextDecoder().decode(bytes).split(/\r\n|\r|\n/);
        expect(lines).toHaveLength(3);
        expect(lines[0]?.startsWith(":")).toBe(true);
      }),
      RUNS,
    );
  });
});
