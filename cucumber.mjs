// Cucumber runs the TypeScript step definitions through tsx, registered here because the
// config is loaded before any support code (cucumber's own `loader` option uses the
// deprecated --loader hooks, which tsx refuses).
import { register } from "tsx/esm/api";

register();

// No `paths`: cucumber's default is features/**/*.feature, and leaving it out lets
// `npx cucumber-js features/replay.feature` run just that file.
const common = {
  import: ["features/support/**/*.ts", "features/step_definitions/**/*.ts"],
  // The progress dots, each failure in full, then "N scenarios (N passed)".
  format: ["progress"],
  // One scenario at a time: each starts Caddy, the sidecar and NATS clients on a 2-core box.
  parallel: 0,
};

/**
 * `npx cucumber-js`: everything but the scenarios that wait for a fix elsewhere and those that
 * need the Docker stack.
 */
export default { ...common, tags: "not @wip and not @docker" };

/** `npx cucumber-js -p wip`: only those, to see whether the fix has landed. */
export const wip = { ...common, tags: "@wip" };

/**
 * `npx cucumber-js -p docker`: the scenarios against the compose stack at NUTS_DOCKER_URL
 * (default http://localhost:8080); `make test-docker` starts and removes that stack.
 */
export const docker = { ...common, tags: "@docker and not @wip" };
