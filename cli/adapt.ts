import type { Command } from "commander";

// Placeholder until the `adapt` command lands.
export function registerAdapt(_program: Command): void {}
