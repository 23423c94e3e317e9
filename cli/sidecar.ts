import type { Command } from "commander";

// Placeholder until the `sidecar` command lands.
export function registerSidecar(_program: Command): void {}
