/**
 * Entry point of the load generator's own process: runs the commands the orchestrator sends
 * over the IPC channel (see remote-loadgen.ts) on one LoadGenerator.
 */
import { LoadGenerator } from "./loadgen.js";
import type { LoadCommand } from "./remote-loadgen.js";

const generator = new LoadGenerator();

async function run(command: LoadCommand): Promise<unknown> {
  switch (command.type) {
    case "connect":
      return generator.connect(command.request);
    case "mark":
      return generator.mark(command.request);
    case "collect":
      return generator.collect(command.request);
    case "progress":
      return generator.progress(command.request);
    case "drop":
      return generator.drop();
    case "reconnect":
      return generator.reconnect(command.request);
    case "churn":
      return generator.churn(command.request);
    case "close":
      return generator.closeAll();
  }
}

process.on("message", (message: { id: number; command: LoadCommand }) => {
  run(message.command).then(
    (result) => process.send?.({ id: message.id, result: result ?? null }),
    (error: unknown) =>
      process.send?.({
        id: message.id,
        error: error instanceof Error ? error.stack : String(error),
      }),
  );
});
process.on("disconnect", () => process.exit(0));
