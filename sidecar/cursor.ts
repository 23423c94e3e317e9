import { ErrorCode, RequestError } from "./errors.js";

/** Stream sequences are uint64 in NATS; JavaScript numbers are exact up to 2^53. */
const SEQUENCE = /^\d{1,16}$/;

/**
 * Where a client wants to resume: the `Last-Event-ID` header (what a browser sends on its own
 * reconnect) wins over the `last-id` query parameter. A malformed query is the client's bug
 * and gets a 400; a malformed header is ignored, since browsers echo whatever id they last saw.
 * Returns undefined when the client has no cursor (it gets only new messages).
 */
export function resumeCursor(
  header: string | undefined,
  query: string | undefined,
): number | undefined {
  const fromHeader = header === undefined ? undefined : parseSequence(header.trim());
  if (fromHeader !== undefined) return fromHeader;
  if (query === undefined) return undefined;
  const fromQuery = parseSequence(query);
  if (fromQuery === undefined) {
    throw new RequestError(
      400,
      ErrorCode.InvalidLastId,
      `last-id must be a stream sequence number (digits only, at most 16), got ${JSON.stringify(query.slice(0, 40))}`,
    );
  }
  return fromQuery;
}

function parseSequence(text: string): number | undefined {
  if (!SEQUENCE.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
