/**
 * Throw-away certificates for TLS tests, made with the openssl CLI in a temp dir: a CA, a
 * server certificate for 127.0.0.1 and localhost, and a client certificate, both signed by the
 * CA; plus a second, unrelated CA with its own client certificate (one the server must refuse).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TlsCertificates {
  dir: string;
  /** The CA that signed the server and client certificates (PEM). */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by a different CA: the server must not accept it. */
  strangerCert: string;
  strangerKey: string;
  /** Removes the temp dir. */
  remove(): Promise<void>;
}

/** `OPENSSL` env var, else `openssl` on PATH. */
function opensslBinary(): string {
  return process.env.OPENSSL ?? "openssl";
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run(opensslBinary(), args, { cwd: dir });
}

/** `openssl req` arguments for a new unencrypted P-256 key. */
const NEW_P256_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA: `<name>.pem` and `<name>-key.pem`. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...NEW_P256_KEY,
    "-keyout",
    `${name}-key.pem`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/** A leaf certificate `<name>.pem` / `<name>-key.pem` signed by CA `<ca>`. */
async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  extensions: string[],
): Promise<void> {
  await openssl(dir, [
    "req",
    ...NEW_P256_KEY,
    "-keyout",
    `${name}-key.pem`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  ]);
  await writeFile(join(dir, `${name}.ext`), `${extensions.join("\n")}\n`);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}-key.pem`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ]);
}

export async function makeTlsCertificates(): Promise<TlsCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "nuts-tls-"));
  try {
    await makeCa(dir, "ca");
    await makeCa(dir, "other-ca");
    await makeLeaf(dir, "server", "ca", [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]);
    const clientExtensions = [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
    ];
    await makeLeaf(dir, "client", "ca", clientExtensions);
    await makeLeaf(dir, "stranger", "other-ca", clientExtensions);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const file = (name: string) => join(dir, name);
  return {
    dir,
    ca: file("ca.pem"),
    serverCert: file("server.pem"),
    serverKey: file("server-key.pem"),
    clientCert: file("client.pem"),
    clientKey: file("client-key.pem"),
    strangerCert: file("stranger.pem"),
    strangerKey: file("stranger-key.pem"),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
