import type { Command } from "commander";

// Placeholder until the `stream` command lands.
export function registerStream(_program: Command): void {}
