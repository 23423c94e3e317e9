/**
 * Route names: Caddy sends one in the X-Nuts-Route header and the sidecar looks the route up by
 * it, so names are short, unique within a config and safe in a header. They come from the path
 * the route is mounted at (`/api/events` -> `api-events`), or `route-N` for the N-th nuts block
 * when there is no path.
 */
export class RouteNames {
  private readonly taken = new Set<string>();
  private count = 0;

  /** A fresh name for the next route; `path` is the path it matches, if any. */
  next(path: string | undefined): string {
    this.count++;
    const base = nameFromPath(path ?? "") || `route-${this.count}`;
    let name = base;
    for (let suffix = 2; this.taken.has(name); suffix++) name = `${base}-${suffix}`;
    this.taken.add(name);
    return name;
  }
}

function nameFromPath(path: string): string {
  return path
    .replace(/[^A-Za-z0-9_.]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, 56)
    .replace(/-+$/, "");
}
