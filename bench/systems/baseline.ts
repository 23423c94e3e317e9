/** The minimal Node server (bench/baseline-server.ts) as a system under test. */
import { fileURLToPath } from "node:url";
import { PipelinedHttpPublisher } from "../publisher.js";
import { freePort, type RunningSystem, spawnLogged, stopChild, waitForStream } from "./system.js";

export async function startBaseline(): Promise<RunningSystem> {
  const port = await freePort();
  const entry = fileURLToPath(new URL("../baseline-server.ts", import.meta.url));
  const { child, output } = spawnLogged(process.execPath, [
    "--import",
    "tsx",
    entry,
    "--listen",
    `127.0.0.1:${port}`,
  ]);
  try {
    await waitForStream(port, "/events?topic=probe", child, output);
  } catch (error) {
    await stopChild(child);
    throw new Error(`the baseline server did not come up: ${(error as Error).message}`);
  }
  const publisher = await PipelinedHttpPublisher.open(port, "/pub?topic=");
  return {
    name: "baseline",
    port,
    subscribePath: "/events?topic=",
    replay: null,
    resumes: false,
    publisher,
    processes: () => ({ server: [child.pid ?? 0] }),
    async stop() {
      await publisher.close();
      await stopChild(child);
    },
  };
}
