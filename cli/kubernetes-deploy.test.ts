/**
 * The Kubernetes manifests (deploy/kubernetes/), parsed and checked against the real thing: the
 * probes ask for paths the sidecar's admin listener answers, on the port NUTS_ADMIN_LISTEN binds,
 * reachable from the kubelet; the http port is the one the mounted Caddyfile serves (adapted by
 * NUTS, then by the real caddy); Services, selectors, mounts and NATS addresses fit together.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { adaptCaddyfile } from "../caddy/index.js";
import { adminResponse, parseAdminListen } from "../sidecar/admin.js";
import type { Hub } from "../sidecar/hub.js";
import type { SidecarMetrics } from "../sidecar/metrics.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const manifestDir = join(repoRoot, "deploy", "kubernetes");
const caddy = join(repoRoot, ".tools", "bin", "caddy");

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML; each check names its path
type Doc = any;

function manifests(file: string): Doc[] {
  const documents = parseAllDocuments(readFileSync(join(manifestDir, file), "utf8"));
  for (const document of documents) expect(document.errors, file).toEqual([]);
  return documents.map((document) => document.toJS());
}

function only(docs: Doc[], kind: string, name: string): Doc {
  const found = docs.filter((doc) => doc.kind === kind && doc.metadata?.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0];
}

const nuts = manifests("nuts.yaml");
const nats = manifests("nats.yaml");
const deployment = only(nuts, "Deployment", "nuts");
const container = deployment.spec.template.spec.containers[0];
const env = new Map<string, string>(
  container.env.map((each: { name: string; value: string }) => [each.name, each.value]),
);

/** A probe's or Service's port (a name or a number) as the container port number it means. */
function containerPort(port: string | number): number {
  if (typeof port === "number") return port;
  const named = container.ports.find((each: { name: string }) => each.name === port);
  expect(named, `container port named ${port}`).toBeDefined();
  return named.containerPort;
}

/** What the sidecar's admin listener answers for a path, with no routes configured. */
async function adminStatus(path: string): Promise<number> {
  const hub = { routeSources: () => new Map() } as unknown as Hub;
  const metrics = {} as SidecarMetrics;
  return (await adminResponse("GET", path, { hub, metrics })).status;
}

function caddyAdapt(caddyfile: string): Promise<Doc> {
  const file = join(mkdtempSync(join(tmpdir(), "nuts-k8s-")), "Caddyfile");
  writeFileSync(file, caddyfile);
  return new Promise((resolve, reject) => {
    execFile(
      caddy,
      ["adapt", "--adapter", "caddyfile", "--config", file],
      // Without NUTS_HTTP_PORT, as in the pod: the Caddyfile's default port.
      { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" } },
      (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(JSON.parse(stdout))),
    );
  });
}

describe("deploy/kubernetes/nuts.yaml", () => {
  it("parses into a ConfigMap, a Deployment, a Service and a PodDisruptionBudget", () => {
    expect(nuts.map((doc) => `${doc.kind}/${doc.metadata.name}`)).toEqual([
      "ConfigMap/nuts-caddyfile",
      "Deployment/nuts",
      "Service/nuts",
      "PodDisruptionBudget/nuts",
    ]);
  });

  it("probes paths the sidecar's admin listener answers with 200", async () => {
    const probes = ["startupProbe", "livenessProbe", "readinessProbe"].map(
      (name) => container[name].httpGet,
    );
    expect(probes.map((probe) => probe.path)).toEqual(["/livez", "/livez", "/readyz"]);
    for (const probe of probes) expect(await adminStatus(probe.path)).toBe(200);
    // A path the listener does not serve would fail every probe: the check above can tell.
    expect(await adminStatus("/healthz")).toBe(404);
  });

  it("probes the port NUTS_ADMIN_LISTEN binds, on an address the kubelet reaches", () => {
    const admin = parseAdminListen(env.get("NUTS_ADMIN_LISTEN") ?? "");
    expect(admin).toEqual({ type: "tcp", host: "0.0.0.0", port: 9464 });
    const adminPort = admin.type === "tcp" ? admin.port : Number.NaN;
    for (const name of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      expect(containerPort(container[name].httpGet.port), name).toBe(adminPort);
    }
  });

  it("exposes the port the mounted Caddyfile serves, through the Service", async () => {
    const caddyfile = only(nuts, "ConfigMap", "nuts-caddyfile").data.Caddyfile;
    const adapted = await adaptCaddyfile(caddyfile, "Caddyfile", {
      listen: "unix:/tmp/nuts.sock",
      env: { NATS_URL: env.get("NATS_URL") ?? "" },
    });
    expect(adapted.routes.map((route) => [route.pathPrefix, route.streamName])).toEqual([
      ["/events", "EVENTS"],
    ]);
    if (adapted.caddy.format !== "caddyfile") throw new Error("expected a Caddyfile");
    const json = await caddyAdapt(adapted.caddy.text);
    const listens = Object.values(json.apps.http.servers).flatMap((server: Doc) => server.listen);
    expect(listens).toEqual([`:${containerPort("http")}`]);
    const service = only(nuts, "Service", "nuts");
    expect(service.spec.ports.map((port: Doc) => containerPort(port.targetPort))).toEqual([8080]);
  });

  it("selects its pods, mounts the Caddyfile where nuts run reads it", () => {
    const podLabels = deployment.spec.template.metadata.labels;
    for (const selector of [
      deployment.spec.selector.matchLabels,
      only(nuts, "Service", "nuts").spec.selector,
      only(nuts, "PodDisruptionBudget", "nuts").spec.selector.matchLabels,
    ]) {
      expect(podLabels).toMatchObject(selector);
    }
    expect(container.args).toEqual(["run", "--config", "/etc/nuts/Caddyfile"]);
    const volume = deployment.spec.template.spec.volumes.find(
      (each: Doc) => each.configMap?.name === "nuts-caddyfile",
    );
    const mount = container.volumeMounts.find((each: Doc) => each.name === volume.name);
    expect(mount.mountPath).toBe("/etc/nuts");
    // A rolling update never takes a pod away before its replacement is ready.
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });
});

describe("deploy/kubernetes/nats.yaml", () => {
  it("runs three NATS nodes whose addresses are the ones NUTS connects to", () => {
    const statefulSet = only(nats, "StatefulSet", "nats");
    const service = only(nats, "Service", "nats");
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.serviceName).toBe(service.metadata.name);
    const clientPort = statefulSet.spec.template.spec.containers[0].ports.find(
      (port: Doc) => port.name === "client",
    ).containerPort;
    const nodes = [0, 1, 2].map((index) => `nats://nats-${index}.nats:${clientPort}`);
    expect(env.get("NATS_URL")?.split(",")).toEqual(nodes);
    const jobContainer = only(nats, "Job", "nuts-stream-init").spec.template.spec.containers[0];
    expect(jobContainer.env[0].value.split(",")).toEqual(nodes);
    expect(jobContainer.args[0]).toContain("num_replicas: 3");
    const config = only(nats, "ConfigMap", "nats-config").data["nats.conf"];
    for (const index of [0, 1, 2]) expect(config).toContain(`nats://nats-${index}.nats:6222`);
  });
});
