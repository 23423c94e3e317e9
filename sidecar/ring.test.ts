import { describe, expect, it } from "vitest";
import { Ring, type RingEntry } from "./ring.js";

const entry = (seq: number, topic = "t"): RingEntry => ({
  seq,
  topic,
  frame: new Uint8Array([seq & 0xff]),
});
const seqs = (entries: Iterable<RingEntry>) => [...entries].map((each) => each.seq);

describe("Ring", () => {
  it("starts empty and covers every cursor at or above the sequence it started after", () => {
    const ring = new Ring(4, 10);
    expect(ring.length).toBe(0);
    expect(ring.covers(10)).toBe(true);
    expect(ring.covers(11)).toBe(true);
    expect(ring.covers(9)).toBe(false);
    expect(seqs(ring.after(0))).toEqual([]);
  });

  it("returns the entries after a cursor, oldest first", () => {
    const ring = new Ring(8, 0);
    for (const seq of [1, 2, 4, 7, 9]) ring.push(entry(seq));
    expect(seqs(ring.after(0))).toEqual([1, 2, 4, 7, 9]);
    expect(seqs(ring.after(2))).toEqual([4, 7, 9]);
    expect(seqs(ring.after(3))).toEqual([4, 7, 9]);
    expect(seqs(ring.after(8))).toEqual([9]);
    expect(seqs(ring.after(9))).toEqual([]);
    expect(seqs(ring.after(100))).toEqual([]);
  });

  it("evicts the oldest entry when full and raises its floor to it", () => {
    const ring = new Ring(3, 0);
    for (let seq = 1; seq <= 5; seq++) ring.push(entry(seq));
    expect(ring.length).toBe(3);
    expect(ring.floor).toBe(2);
    expect(seqs(ring.after(0))).toEqual([3, 4, 5]);
    // A client after 2 lacks nothing the ring has lost; a client after 1 would miss 2.
    expect(ring.covers(2)).toBe(true);
    expect(ring.covers(1)).toBe(false);
    expect(seqs(ring.after(2))).toEqual([3, 4, 5]);
    expect(seqs(ring.after(4))).toEqual([5]);
  });

  it("keeps order across many wrap-arounds, with gaps in the sequence", () => {
    const ring = new Ring(16, 0);
    const pushed: number[] = [];
    for (let index = 1; index <= 1000; index++) {
      const seq = index * 3;
      pushed.push(seq);
      ring.push(entry(seq, index % 2 === 0 ? "even" : "odd"));
    }
    const kept = pushed.slice(-16);
    expect(seqs(ring.after(0))).toEqual(kept);
    expect(ring.floor).toBe(pushed[pushed.length - 17]);
    for (const cursor of [
      ring.floor,
      ring.floor + 1,
      kept[5] as number,
      (kept[15] as number) - 1,
    ]) {
      expect(seqs(ring.after(cursor))).toEqual(kept.filter((seq) => seq > cursor));
    }
    expect([...ring.after(0)].map((each) => each.topic).slice(0, 2)).toEqual(["odd", "even"]);
  });

  it("keeps the frames it was given", () => {
    const ring = new Ring(2, 0);
    const frame = new TextEncoder().encode("id: 1\ndata: x\n\n");
    ring.push({ seq: 1, topic: "a", frame });
    expect([...ring.after(0)][0]?.frame).toBe(frame);
  });
});
