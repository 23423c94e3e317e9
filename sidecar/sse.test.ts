import { describe, expect, it } from "vitest";
import { encodeComment, encodeEvent, encodeMessage, HEARTBEAT, messageData } from "./sse.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const utf8 = (value: string) => new TextEncoder().encode(value);
const time = new Date("2025-03-04T05:06:07.089Z");

describe("encodeEvent", () => {
  it("writes id, event, retry and data in that order, ending with a blank line", () => {
    expect(
      text(encodeEvent({ id: 7, event: "connected", retry: 3000, data: '{"topics":["a"]}' })),
    ).toBe('id: 7\nevent: connected\nretry: 3000\ndata: {"topics":["a"]}\n\n');
  });

  it("writes only data when nothing else is given", () => {
    expect(text(encodeEvent({ data: "hello" }))).toBe("data: hello\n\n");
  });

  it("writes an empty data line for empty data", () => {
    expect(text(encodeEvent({ data: "" }))).toBe("data: \n\n");
  });

  it("splits multi-line data into several data lines, whatever the line break", () => {
    expect(text(encodeEvent({ data: "one\ntwo\r\nthree\rfour" }))).toBe(
      "data: one\ndata: two\ndata: three\ndata: four\n\n",
    );
    expect(text(encodeEvent({ data: "end\n" }))).toBe("data: end\ndata: \n\n");
    expect(text(encodeEvent({ data: "\r\n\r\n" }))).toBe("data: \ndata: \ndata: \n\n");
  });

  it("removes CR, LF and NUL from id and event so neither can break the frame", () => {
    expect(text(encodeEvent({ id: "1\r\n2\u00003", event: "mes\nsage\r", data: "x" }))).toBe(
      "id: 123\nevent: message\ndata: x\n\n",
    );
  });

  it("writes retry as whole milliseconds", () => {
    expect(text(encodeEvent({ retry: 1500.9, data: "x" }))).toBe("retry: 1500\ndata: x\n\n");
  });
});

describe("comments", () => {
  it("frames a heartbeat as a comment", () => {
    expect(text(HEARTBEAT)).toBe(": heartbeat\n\n");
  });

  it("turns line breaks in a comment into spaces", () => {
    expect(text(encodeComment("a\r\nb\u0000c"))).toBe(": a  b c\n\n");
  });
});

describe("messageData", () => {
  it("embeds a JSON payload as JSON, normalised to one line", () => {
    expect(messageData("orders", utf8('{\n  "id": 1,\n  "tags": ["x"]\n}'), time)).toBe(
      '{"topic":"orders","payload":{"id":1,"tags":["x"]},"time":"2025-03-04T05:06:07.089Z"}',
    );
  });

  it.each([
    ["42", "42"],
    ["-1.5", "-1.5"],
    ["true", "true"],
    ["null", "null"],
    ['"quoted"', '"quoted"'],
    ["[1,2]", "[1,2]"],
    [" 7 ", "7"],
  ])("embeds the JSON text %j as %s", (payload, json) => {
    expect(messageData("t", utf8(payload), time)).toBe(
      `{"topic":"t","payload":${json},"time":"2025-03-04T05:06:07.089Z"}`,
    );
  });

  it.each([
    ["hello world", '"hello world"'],
    ["", '""'],
    ["{not json", '"{not json"'],
    ["12abc", '"12abc"'],
    ["True", '"True"'],
  ])("embeds the non-JSON text %j as a JSON string", (payload, json) => {
    expect(messageData("t", utf8(payload), time)).toBe(
      `{"topic":"t","payload":${json},"time":"2025-03-04T05:06:07.089Z"}`,
    );
  });

  it("escapes CR, LF, CRLF and NUL so the data stays on one line", () => {
    const data = messageData("t", utf8("a\rb\nc\r\nd\u0000e"), time);
    expect(data).toBe(
      '{"topic":"t","payload":"a\\rb\\nc\\r\\nd\\u0000e","time":"2025-03-04T05:06:07.089Z"}',
    );
    for (const character of ["\r", "\n", "\u0000"]) expect(data).not.toContain(character);
  });

  it("replaces invalid UTF-8 with U+FFFD", () => {
    const payload = new Uint8Array([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82]);
    expect(messageData("t", payload, time)).toBe(
      '{"topic":"t","payload":"a\uFFFDb\uFFFD(\uFFFD","time":"2025-03-04T05:06:07.089Z"}',
    );
  });

  it("keeps valid multi-byte UTF-8", () => {
    expect(messageData("t", utf8("héllo ✓ 🎉"), time)).toBe(
      '{"topic":"t","payload":"héllo ✓ 🎉","time":"2025-03-04T05:06:07.089Z"}',
    );
  });
});

describe("encodeMessage", () => {
  it("frames a message with its sequence as id and one data line", () => {
    expect(text(encodeMessage(42, "chat.room-1", utf8("line one\nline two"), time))).toBe(
      'id: 42\nevent: message\ndata: {"topic":"chat.room-1","payload":"line one\\nline two","time":"2025-03-04T05:06:07.089Z"}\n\n',
    );
  });

  it("frames a payload full of CR, LF, NUL and broken UTF-8 as exactly one well-formed event", () => {
    const payload = new Uint8Array([
      0x0d, 0x0a, 0x0a, 0x00, 0xfe, 0x0d, 0x3a, 0x20, 0x69, 0x64, 0x3a, 0x20, 0x39,
    ]);
    const frame = text(encodeMessage(5, "t", payload, time));
    expect(frame).toBe(
      'id: 5\nevent: message\ndata: {"topic":"t","payload":"\\r\\n\\n\\u0000\uFFFD\\r: id: 9","time":"2025-03-04T05:06:07.089Z"}\n\n',
    );
    expect(frame.split("\n\n")).toHaveLength(2);
  });
});
