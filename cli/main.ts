import { Command } from "commander";
import { registerAdapt } from "./adapt.js";
import { registerPub } from "./pub.js";
import { registerRun } from "./run.js";
import { registerSidecar } from "./sidecar.js";
import { registerStream } from "./stream.js";

const program = new Command()
  .name("nuts")
  .description("NATS to SSE for Caddy: stream NATS JetStream messages to browsers")
  .showHelpAfterError("(run `nuts --help` for usage)")
  .configureOutput({ outputError: (text, write) => write(text) });

registerRun(program);
registerAdapt(program);
registerSidecar(program);
registerStream(program);
registerPub(program);

await program.parseAsync(process.argv);
