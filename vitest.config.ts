import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "sidecar/**/*.test.ts",
      "mercure/**/*.test.ts",
      "caddy/**/*.test.ts",
      "cli/**/*.test.ts",
      "testing/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each integration test file starts its own nats-server; two cores, so keep it modest.
    maxWorkers: 2,
  },
});
