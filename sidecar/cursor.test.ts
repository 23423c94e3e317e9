import { describe, expect, it } from "vitest";
import { resumeCursor } from "./cursor.js";
import { RequestError } from "./errors.js";

describe("resumeCursor", () => {
  it("has no cursor without header or query", () => {
    expect(resumeCursor(undefined, undefined)).toBeUndefined();
  });

  it("reads the query parameter", () => {
    expect(resumeCursor(undefined, "42")).toBe(42);
    expect(resumeCursor(undefined, "0")).toBe(0);
  });

  it("reads the header, trimmed, and prefers it over the query", () => {
    expect(resumeCursor(" 17 ", undefined)).toBe(17);
    expect(resumeCursor("17", "42")).toBe(17);
  });

  it("ignores a malformed header and falls back to the query", () => {
    expect(resumeCursor("abc", "42")).toBe(42);
    expect(resumeCursor("", undefined)).toBeUndefined();
    expect(resumeCursor("-1", undefined)).toBeUndefined();
    expect(resumeCursor("12345678901234567", undefined)).toBeUndefined();
  });

  it("accepts the largest exact sequence of 16 digits and refuses unsafe ones", () => {
    expect(resumeCursor(undefined, "9007199254740991")).toBe(9007199254740991);
    expect(resumeCursor("9999999999999999", undefined)).toBeUndefined();
  });

  it.each(["abc", "", "-1", "1.5", " 1", "0x10", "12345678901234567", "9999999999999999"])(
    "refuses the malformed query %j with 400 invalid_last_id",
    (query) => {
      let caught: unknown;
      try {
        resumeCursor(undefined, query);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(RequestError);
      const error = caught as RequestError;
      expect(error.status).toBe(400);
      expect(error.toJSON()).toEqual({
        error: "invalid_last_id",
        message: `last-id must be a stream sequence number (digits only, at most 16), got ${JSON.stringify(query)}`,
      });
    },
  );

  it("quotes at most 40 characters of a malformed query", () => {
    const long = "x".repeat(100);
    expect(() => resumeCursor(undefined, long)).toThrow(
      `last-id must be a stream sequence number (digits only, at most 16), got "${"x".repeat(40)}"`,
    );
  });
});
