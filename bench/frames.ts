/**
 * Incremental parsing of an SSE response as it arrives on a raw socket: the HTTP/1.1 chunked
 * transfer coding, then the event stream, then the two numbers the benchmark payload carries.
 * Everything works on latin1 strings (one char per byte): the benchmark's frames are ASCII, and
 * a latin1 decode is the cheapest way from a Buffer to something indexOf can scan.
 */

/** Undoes `Transfer-Encoding: chunked`, whatever the byte boundaries of the reads. */
export class ChunkedDecoder {
  private pending = "";
  /** Bytes of the current chunk still to come; -1 while a size line is expected. */
  private remaining = -1;
  /** The CRLF after a chunk's data is still to be skipped. */
  private expectTrailer = false;
  /** The zero-size last chunk was seen. */
  ended = false;

  /** Feeds raw body text; returns the decoded payload bytes it completes (may be ""). */
  push(text: string): string {
    let input = this.pending + text;
    this.pending = "";
    let output = "";
    while (input.length > 0 && !this.ended) {
      if (this.expectTrailer) {
        if (input.length < 2) break;
        input = input.slice(2);
        this.expectTrailer = false;
        continue;
      }
      if (this.remaining < 0) {
        const lineEnd = input.indexOf("\r\n");
        if (lineEnd < 0) break;
        // Chunk extensions (";name=value") are allowed after the size and ignored.
        const size = Number.parseInt(input.slice(0, lineEnd), 16);
        if (Number.isNaN(size))
          throw new Error(`bad chunk size line ${JSON.stringify(input.slice(0, 20))}`);
        input = input.slice(lineEnd + 2);
        if (size === 0) {
          this.ended = true;
          break;
        }
        this.remaining = size;
        continue;
      }
      const take = Math.min(this.remaining, input.length);
      output += input.slice(0, take);
      input = input.slice(take);
      this.remaining -= take;
      if (this.remaining === 0) {
        this.remaining = -1;
        this.expectTrailer = true;
      }
    }
    this.pending = input;
    return output;
  }
}

/** Called once per event; comments (heartbeats) and empty events are skipped. */
export type FrameHandler = (
  id: string | undefined,
  event: string | undefined,
  data: string,
) => void;

/**
 * Splits an event stream into events (WHATWG HTML "Server-sent events", LF line endings, which
 * is what every system under test sends). Only `id`, `event` and `data` are kept; several
 * `data` lines are joined with LF as the spec says.
 */
export class SseParser {
  private pending = "";

  push(text: string, onFrame: FrameHandler): void {
    const input = this.pending + text;
    let start = 0;
    for (;;) {
      const end = input.indexOf("\n\n", start);
      if (end < 0) break;
      parseEvent(input, start, end, onFrame);
      start = end + 2;
    }
    this.pending = start === 0 ? input : input.slice(start);
  }
}

function parseEvent(input: string, start: number, end: number, onFrame: FrameHandler): void {
  let id: string | undefined;
  let event: string | undefined;
  let data: string | undefined;
  let lineStart = start;
  while (lineStart < end) {
    let lineEnd = input.indexOf("\n", lineStart);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const colon = input.indexOf(":", lineStart);
    if (colon !== lineStart) {
      const nameEnd = colon < 0 || colon > lineEnd ? lineEnd : colon;
      const name = input.slice(lineStart, nameEnd);
      let valueStart = nameEnd + 1;
      if (input.charCodeAt(valueStart) === 0x20) valueStart++;
      const value = valueStart >= lineEnd ? "" : input.slice(valueStart, lineEnd);
      if (name === "data") data = data === undefined ? value : `${data}\n${value}`;
      else if (name === "id") id = value;
      else if (name === "event") event = value;
    }
    lineStart = lineEnd + 1;
  }
  if (data !== undefined || id !== undefined) onFrame(id, event, data ?? "");
}

/**
 * Reads the number after `"<name>":` in a JSON text without parsing the whole of it, or NaN.
 * The benchmark payload is `{"t":<publish time ms>,"n":<counter>}`, wrapped by NUTS in
 * `{"topic":...,"payload":{...},"time":...}`; `"t":` cannot match `"topic":` or `"time":`.
 */
export function readNumberField(json: string, name: string): number {
  const key = `"${name}":`;
  const at = json.indexOf(key);
  if (at < 0) return Number.NaN;
  let end = at + key.length;
  while (end < json.length) {
    const code = json.charCodeAt(end);
    if (code === 0x2c || code === 0x7d || code === 0x20) break; // , } space
    end++;
  }
  return Number(json.slice(at + key.length, end));
}

/** The publish side of the same contract. */
export function benchPayload(counter: number, nowMs: number): string {
  return `{"t":${nowMs.toFixed(3)},"n":${counter}}`;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
