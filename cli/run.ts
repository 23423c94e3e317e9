import type { Command } from "commander";

// Placeholder until the `run` command lands.
export function registerRun(_program: Command): void {}
