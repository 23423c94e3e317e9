/**
 * The URL path a nuts route is mounted at, read from Caddy path matchers. The sidecar strips it
 * from the request path and treats what follows as a topic (`/events/orders`).
 */

/** What a set of path patterns says about the path prefix. */
export type PathScope =
  | { type: "any" }
  | { type: "prefix"; prefix: string }
  | { type: "unclear"; reason: string };

/**
 * `/events*`, `/events/*` and `/events` give `/events`; `*` matches every path. Patterns with a
 * wildcard elsewhere, or several patterns with different prefixes, leave the prefix unclear.
 */
export function pathScopeOf(patterns: readonly string[]): PathScope {
  const prefixes = new Set<string>();
  for (const pattern of patterns) {
    if (pattern === "*") return { type: "any" };
    const stem = pattern.endsWith("*") ? pattern.slice(0, -1) : pattern;
    if (!stem.startsWith("/") || stem.includes("*")) {
      return { type: "unclear", reason: `the path pattern "${pattern}" is not a plain prefix` };
    }
    prefixes.add(stem.replace(/\/+$/, ""));
  }
  if (prefixes.size === 0) return { type: "any" };
  if (prefixes.size > 1) {
    return { type: "unclear", reason: `it matches several paths (${patterns.join(" ")})` };
  }
  return { type: "prefix", prefix: [...prefixes][0] as string };
}
