import { describe, expect, it } from "vitest";
import { TopicFilter } from "./topic-filter.js";

describe("TopicFilter", () => {
  it("with one topic matches exactly that topic, and says it is the only one", () => {
    const filter = new TopicFilter(["orders"]);
    expect(["orders", "orders.eu", "order", "invoices"].map((t) => filter.matches(t))).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(filter.onlyTopic).toBe("orders");
    expect([...filter.literals]).toEqual(["orders"]);
    expect(filter.patterns).toEqual([]);
  });

  it("with several topics or a pattern matches each, and has no only topic", () => {
    const several = new TopicFilter(["a", "b", "a"]);
    expect(["a", "b", "c"].map((t) => several.matches(t))).toEqual([true, true, false]);
    expect([...several.literals]).toEqual(["a", "b"]);
    expect(several.onlyTopic).toBeUndefined();

    const pattern = new TopicFilter(["chat.*"]);
    expect(["chat.room-1", "chat", "chat.room-1.x"].map((t) => pattern.matches(t))).toEqual([
      true,
      false,
      false,
    ]);
    expect([...pattern.literals]).toEqual([]);
    expect(pattern.onlyTopic).toBeUndefined();
  });
});
