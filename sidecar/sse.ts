/**
 * Server-Sent Events framing (WHATWG HTML, "Server-sent events"). Every frame is built once as
 * bytes; fan-out writes the same bytes to every client.
 */

export interface SseEvent {
  id?: string | number;
  event?: string;
  data: string;
  /** Reconnection time in milliseconds. */
  retry?: number;
}

const encoder = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;
// A field value may not break the line; NUL makes a browser ignore an id.
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const UNSAFE_IN_FIELD = /[\r\n\u0000]/g;

/** Builds one event. Multi-line data becomes several `data:` lines, as the spec requires. */
export function encodeEvent(event: SseEvent): Uint8Array {
  let text = "";
  if (event.id !== undefined) text += `id: ${String(event.id).replace(UNSAFE_IN_FIELD, "")}\n`;
  if (event.event !== undefined) text += `event: ${event.event.replace(UNSAFE_IN_FIELD, "")}\n`;
  if (event.retry !== undefined) text += `retry: ${Math.trunc(event.retry)}\n`;
  for (const line of event.data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return encoder.encode(`${text}\n`);
}

/** A comment line: ignored by EventSource, keeps proxies and load balancers from timing out. */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text.replace(UNSAFE_IN_FIELD, " ")}\n\n`);
}

export const HEARTBEAT = encodeComment("heartbeat");

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * The `data` of a `message` event: the topic, the payload (as JSON when it parses, else as a
 * string; invalid UTF-8 becomes U+FFFD) and the JetStream timestamp. JSON.stringify escapes CR,
 * LF and NUL, so the result is always one line whatever the payload holds.
 */
export function messageData(topic: string, payload: Uint8Array, time: Date): string {
  const text = decoder.decode(payload);
  return `{"topic":${JSON.stringify(topic)},"payload":${payloadJson(text)},"time":"${time.toISOString()}"}`;
}

function payloadJson(text: string): string {
  // JSON's own whitespace only: a payload such as "\u00a042" is text, not the number 42.
  const trimmed = text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  // Only texts that could be JSON pay for a parse; a plain word or sentence is a string.
  if (trimmed !== "" && /^[[{"\-\d]|^(true|false|null)$/.test(trimmed)) {
    try {
      JSON.parse(trimmed);
      return minifyJson(trimmed);
    } catch {
      // not JSON after all
    }
  }
  return JSON.stringify(text);
}

/**
 * Valid JSON text without the white space between its tokens: one line, and numbers keep their
 * digits (a parse and re-serialisation would turn 1e400 into null and round 2^64).
 */
function minifyJson(json: string): string {
  let out = "";
  let inString = false;
  let start = 0;
  for (let index = 0; index < json.length; index++) {
    const char = json.charCodeAt(index);
    if (inString) {
      if (char === 0x5c)
        index++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x20 || char === 0x09 || char === 0x0a || char === 0x0d) {
      out += json.slice(start, index);
      start = index + 1;
    }
  }
  return out + json.slice(start);
}

/** The frame for one JetStream message. */
export function encodeMessage(
  seq: number,
  topic: string,
  payload: Uint8Array,
  time: Date,
): Uint8Array {
  return encodeEvent({ id: seq, event: "message", data: messageData(topic, payload, time) });
}
