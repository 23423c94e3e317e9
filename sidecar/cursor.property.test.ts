/**
 * Property tests for the resume cursor: whatever a client sends as `Last-Event-ID` or
 * `?last-id=`, the sidecar resumes from a safe non-negative integer or not at all; a malformed
 * query is a 400 `invalid_last_id`, a malformed header is ignored, and the header wins.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resumeCursor } from "./cursor.js";
import { RequestError } from "./errors.js";

const RUNS = { seed: 0x5eed_0006, numRuns: 1000 };

/** What a sequence number may look like on the wire: at most 16 ASCII digits. */
const WELL_FORMED = /^\d{1,16}$/;

/** Strings near and far from a sequence number. */
const cursorText = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.bigInt({ min: -(10n ** 20n), max: -1n }).map(String),
  fc.constantFrom(
    "",
    " ",
    "0",
    "00",
    "-0",
    "+1",
    "1e3",
    "0x10",
    "1.5",
    "Infinity",
    "NaN",
    "9007199254740991",
    "9007199254740992",
    "9999999999999999",
    "99999999999999999999",
    "١٢٣", // Arabic-Indic digits: not ASCII digits
    "１２",
    "12\u0000",
    "12\r\n",
  ),
  fc
    .tuple(
      fc.constantFrom("", " ", "\t", "\u00a0", "\ufeff", "\n"),
      fc.stringMatching(/^\d{1,18}$/),
      fc.constantFrom("", " ", "\t", "\u00a0", "x"),
    )
    .map(([before, digits, after]) => before + digits + after),
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.string({ unit: fc.constantFrom("0", "1", "9", "-", " ", ".", "e", "x"), maxLength: 20 }),
);

function outcome(
  run: () => number | undefined,
): { ok: number | undefined } | { refused: RequestError } {
  try {
    return { ok: run() };
  } catch (error) {
    if (error instanceof RequestError) return { refused: error };
    throw error;
  }
}

/** The cursor a text stands for, computed independently: exact digits within 2^53. */
function expectedSequence(text: string): number | undefined {
  if (!WELL_FORMED.test(text)) return undefined;
  const value = BigInt(text);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

function expectSafeCursor(value: number | undefined): void {
  if (value === undefined) return;
  expect(Number.isSafeInteger(value)).toBe(true);
  expect(value).toBeGreaterThanOrEqual(0);
}

describe("resumeCursor (property)", () => {
  it("a query alone: its exact value, or a 400 invalid_last_id naming it", () => {
    fc.assert(
      fc.property(cursorText, (query) => {
        const result = outcome(() => resumeCursor(undefined, query));
        const expected = expectedSequence(query);
        if (expected === undefined) {
          expect("refused" in result).toBe(true);
          if (!("refused" in result)) return;
          expect(result.refused.status).toBe(400);
          expect(result.refused.code).toBe("invalid_last_id");
          expect(result.refused.message).toContain(JSON.stringify(query.slice(0, 40)));
        } else {
          expect(result).toEqual({ ok: expected });
        }
      }),
      RUNS,
    );
  });

  it("a header alone: its trimmed value, or ignored; never an error", () => {
    fc.assert(
      fc.property(cursorText, (header) => {
        const value = resumeCursor(header, undefined);
        expectSafeCursor(value);
        expect(value).toBe(expectedSequence(header.trim()));
      }),
      RUNS,
    );
  });

  it("both: a well-formed header wins; a malformed one falls back to the query", () => {
    fc.assert(
      fc.property(cursorText, cursorText, (header, query) => {
        const result = outcome(() => resumeCursor(header, query));
        const fromHeader = expectedSequence(header.trim());
        const fromQuery = expectedSequence(query);
        if (fromHeader !== undefined) expect(result).toEqual({ ok: fromHeader });
        else if (fromQuery !== undefined) expect(result).toEqual({ ok: fromQuery });
        else expect("refused" in result && result.refused.code).toBe("invalid_last_id");
        if ("ok" in result) expectSafeCursor(result.ok);
      }),
      RUNS,
    );
  });

  it("no header and no query: no cursor", () => {
    expect(resumeCursor(undefined, undefined)).toBeUndefined();
  });
});
