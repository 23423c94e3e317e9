import { defineConfig } from "vitest/config";

/**
 * The storm-under-load test alone (`make test-storm`): too long for the main suite, which
 * `make test-node-versions` runs twice more. Its own timeouts are in the file.
 */
export default defineConfig({
  test: {
    include: ["testing/**/*.storm.ts"],
    // One file, and it needs the machine's cores for Caddy, the sidecar and 5,000 clients.
    maxWorkers: 1,
  },
});
