import { isAbsolute, relative, sep } from "node:path";

/**
 * A file's path as the user knows it, for messages: relative to the current folder when the
 * file is inside it (`caddy/examples/demo.Caddyfile`), otherwise absolute as it is
 * (`/etc/nuts/Caddyfile` in the image, whose working folder is /app, not `../etc/nuts/Caddyfile`).
 */
export function shownPath(file: string, cwd: string = process.cwd()): string {
  const inCwd = relative(cwd, file);
  const outside =
    inCwd === "" || inCwd === ".." || inCwd.startsWith(`..${sep}`) || isAbsolute(inCwd);
  return outside ? file : inCwd;
}
