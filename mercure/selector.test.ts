import { describe, expect, it } from "vitest";
import { compileSelector, SelectorError, selectorMatches } from "./selector.js";

const matches = (selector: string, topic: string) =>
  selectorMatches(compileSelector(selector), topic);

describe("topic selectors", () => {
  it("matches *, exact topics and URI templates as Mercure does", () => {
    expect(matches("*", "https://example.com/anything")).toBe(true);
    expect(matches("https://example.com/a", "https://example.com/a")).toBe(true);
    expect(matches("https://example.com/a", "https://example.com/ab")).toBe(false);
    expect(matches("https://example.com/books/{id}", "https://example.com/books/1")).toBe(true);
    expect(matches("https://example.com/books/{id}", "https://example.com/books/1/x")).toBe(false);
    expect(matches("https://example.com/books/{id}", "https://example.com/books/")).toBe(true);
    expect(matches("https://example.com/{+path}", "https://example.com/a/b?c=d")).toBe(true);
    expect(matches("https://example.com/users{/id}", "https://example.com/users/7")).toBe(true);
    expect(matches("https://example.com/users{/id}", "https://example.com/users")).toBe(true);
    expect(matches("https://example.com/users{/id}", "https://example.com/usersx")).toBe(false);
    expect(matches("https://example.com/f{.ext}", "https://example.com/f.json")).toBe(true);
    expect(matches("https://example.com/s{?q,page}", "https://example.com/s?q=a&page=2")).toBe(
      true,
    );
    expect(matches("https://example.com/{id}.json", "https://example.com/42.json")).toBe(true);
    expect(matches("https://example.com/{id}.json", "https://example.com/42.xml")).toBe(false);
    expect(matches("/chat/{room}", "/chat/caf%C3%A9")).toBe(true);
  });

  it("refuses malformed templates and forbidden characters", () => {
    for (const bad of [
      "{open",
      "close}",
      "a{}b",
      "{a b}",
      "a\u0000b",
      "a\u200bb",
      "x".repeat(2049),
    ]) {
      expect(() => compileSelector(bad), bad.slice(0, 20)).toThrow(SelectorError);
    }
    expect(() => compileSelector("{a}".repeat(33))).toThrow("at most 32 expressions");
  });

  it("matches the worst template in linear time", () => {
    const template = compileSelector(`${"{+a}/".repeat(32)}!`);
    const topic = `https://example.com/${"a/".repeat(1000)}`;
    const started = performance.now();
    expect(selectorMatches(template, topic)).toBe(false);
    expect(selectorMatches(template, `${topic}!`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
