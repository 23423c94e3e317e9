/** An in-memory FileSystem for import tests: paths map to file contents. */
import { basename, dirname } from "node:path";
import type { FileSystem } from "../imports.js";

export function memoryFiles(files: Record<string, string>): FileSystem {
  return {
    async readFile(path) {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      return text;
    },
    async listFiles(folder) {
      const names = Object.keys(files)
        .filter((path) => dirname(path) === folder)
        .map((path) => basename(path));
      return names.length > 0 ? names : undefined;
    },
  };
}
