import type { RingEntry } from "./ring.js";

/**
 * What a route source asks of a subscriber's filter. Subscribers with literal topics are indexed
 * by them and share one joined write per topic; a filter with patterns (or a protocol layer's
 * own matching, such as Mercure's selectors) sees every message and decides with `matches`.
 */
export interface MessageFilter {
  /** Topics the source indexes the subscriber by. */
  readonly literals: ReadonlySet<string> | readonly [string];
  /** Non-empty when the subscriber must see every message (`matches` decides). */
  readonly patterns: readonly string[];
  /** The one literal topic, when that is all the subscriber asked for (the common case). */
  readonly onlyTopic: string | undefined;
  /** Whether a message is for this subscriber; `entry` carries the framer's `meta`. */
  matches(topic: string, entry?: RingEntry): boolean;
  /** Filter subjects for a replay consumer of the subscriber's own. */
  replaySubjects(topicPrefix: string): string[];
}

/** Shared by every filter without patterns: an idle client of one topic allocates no arrays. */
const NONE: readonly never[] = Object.freeze([]);

/**
 * The topics one subscriber asked for. Without authorization these are literal topics; with it,
 * a client may also ask for NATS-style patterns its token covers: `*` matches one token, a
 * final `>` matches one or more.
 */
export class TopicFilter implements MessageFilter {
  /** The literal topics, once each: the topics array itself for the common single topic. */
  readonly literals: ReadonlySet<string> | readonly [string];
  readonly patterns: readonly string[];
  private readonly patternTokens: readonly (readonly string[])[];

  constructor(readonly topics: readonly string[]) {
    const patterns = topics.filter(isPattern);
    const only = topics.length === 1 ? topics[0] : undefined;
    this.literals =
      only !== undefined && patterns.length === 0
        ? (topics as readonly [string])
        : new Set(topics.filter((topic) => !isPattern(topic)));
    this.patterns = patterns.length === 0 ? NONE : patterns;
    this.patternTokens =
      patterns.length === 0 ? NONE : patterns.map((pattern) => pattern.split("."));
  }

  /** The one literal topic, when that is all the subscriber asked for (the common case). */
  get onlyTopic(): string | undefined {
    return this.topics.length === 1 && this.patterns.length === 0 ? this.topics[0] : undefined;
  }

  matches(topic: string): boolean {
    const literals = this.literals;
    if ("has" in literals ? literals.has(topic) : literals[0] === topic) return true;
    if (this.patternTokens.length === 0) return false;
    const tokens = topic.split(".");
    return this.patternTokens.some((pattern) => tokensMatch(pattern, tokens));
  }

  /**
   * Filter subjects for a replay consumer. JetStream refuses overlapping filters, so topics a
   * pattern already covers are dropped; if patterns still overlap, the whole prefix is read and
   * `matches` does the filtering.
   */
  replaySubjects(topicPrefix: string): string[] {
    const kept = this.topics.filter(
      (topic, index) =>
        !this.topics.some(
          (other, otherIndex) =>
            otherIndex !== index &&
            covers(other, topic) &&
            (!covers(topic, other) || otherIndex < index),
        ),
    );
    for (let i = 0; i < kept.length; i++) {
      for (let j = i + 1; j < kept.length; j++) {
        if (overlaps(kept[i] as string, kept[j] as string)) return [`${topicPrefix}>`];
      }
    }
    return kept.map((topic) => topicPrefix + topic);
  }
}

export function isPattern(topic: string): boolean {
  return topic === "*" || topic === ">" || /(^|\.)[*>](\.|$)/.test(topic);
}

/** True when every topic that `inner` matches is matched by `outer` (both may be patterns). */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split(".");
  const i = inner.split(".");
  for (let index = 0; index < o.length; index++) {
    const token = o[index];
    if (token === ">") return index < i.length;
    const other = i[index];
    if (other === undefined || other === ">") return false;
    if (token !== "*" && token !== other) return false;
  }
  return o.length === i.length;
}

/** True when some topic matches both. */
export function overlaps(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let index = 0; ; index++) {
    const p = x[index];
    const q = y[index];
    if (p === undefined || q === undefined) return p === q;
    if (p === ">" || q === ">") return true;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
}

function tokensMatch(pattern: readonly string[], tokens: readonly string[]): boolean {
  for (let index = 0; index < pattern.length; index++) {
    const token = pattern[index];
    if (token === ">") return index < tokens.length;
    if (index >= tokens.length) return false;
    if (token !== "*" && token !== tokens[index]) return false;
  }
  return pattern.length === tokens.length;
}
