import type { RingEntry } from "../sidecar/ring.js";
import type { MessageFilter } from "../sidecar/topic-filter.js";
import type { Selector, SelectorCache } from "./selector.js";
import type { UpdateMeta } from "./update.js";

const NO_LITERALS: ReadonlySet<string> = new Set();

/**
 * Which updates one Mercure subscriber receives: an update reaches it (once) when one of its
 * topics matches one of the subscriber's selectors and, for a private update, one of its topics
 * also matches a selector of the token's `mercure.subscribe` claim.
 */
export class MercureFilter implements MessageFilter {
  readonly literals = NO_LITERALS;
  /** Every update goes through `matches`. */
  readonly patterns: readonly string[];
  readonly onlyTopic = undefined;

  constructor(
    private readonly selectors: readonly Selector[],
    /** The claim's selectors; empty for an anonymous subscriber. */
    private readonly allowed: readonly Selector[],
    private readonly cache: SelectorCache,
    texts: readonly string[],
  ) {
    this.patterns = texts;
  }

  matches(_topic: string, entry?: RingEntry): boolean {
    const meta = entry?.meta as UpdateMeta | undefined;
    if (meta === undefined) return false;
    if (!this.cache.matchesAny(this.selectors, meta.topics)) return false;
    return !meta.private || this.cache.matchesAny(this.allowed, meta.topics);
  }

  /** Selectors are not subjects: a replay reads all of the hub's subjects and filters here. */
  replaySubjects(subjectPrefix: string): string[] {
    return [`${subjectPrefix}>`];
  }
}
