import type { Command } from "commander";

// Placeholder until the `pub` command lands.
export function registerPub(_program: Command): void {}
