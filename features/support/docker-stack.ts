/**
 * The compose stack (`make test-docker`, or `make docker-up`) that @docker scenarios run
 * against instead of a `nuts run` of their own: where it answers, and publishing into its NATS
 * with `nuts pub` inside its nuts container, as an operator would.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { REPO_ROOT } from "./nuts-run.js";

const execFileAsync = promisify(execFile);

/** The stack's published HTTP port: `NUTS_DOCKER_URL`, else the compose file's default. */
export const DOCKER_STACK_URL = (process.env.NUTS_DOCKER_URL ?? "http://localhost:8080").replace(
  /\/+$/,
  "",
);

/**
 * `nuts pub SUBJECT PAYLOAD` in the running `nuts` service of this folder's compose project
 * (`COMPOSE_PROJECT_NAME` picks another one); returns the stream sequence it reported.
 */
export async function publishInStack(subject: string, payload: string): Promise<number> {
  const args = ["compose", "exec", "-T", "nuts", "/app/bin/nuts.js", "pub", subject, payload];
  const { stdout } = await execFileAsync("docker", args, { cwd: REPO_ROOT, timeout: 30_000 }).catch(
    (error: Error & { stderr?: string }) => {
      throw new Error(
        `docker ${args.join(" ")} failed; is the stack up (make docker-up)?\n${error.stderr ?? error.message}`,
        { cause: error },
      );
    },
  );
  // "published to events.orders: stream EVENTS seq 42"
  const seq = /\bseq (\d+)$/.exec(stdout.trim())?.[1];
  if (seq === undefined) {
    throw new Error(`nuts pub printed ${JSON.stringify(stdout)}, without a stream sequence`);
  }
  return Number(seq);
}
