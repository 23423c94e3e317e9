/**
 * V8 options every sidecar process starts with (`nuts run` adds them; `bin/nuts.js` has them in
 * its `#!` line; Node options given explicitly come after them and win).
 *
 * A sidecar holds thousands of idle streams and makes little garbage per message. V8's young
 * generation grows to 16 MiB per semi-space during a burst of new connections and then stays
 * resident: about 3 KiB of RSS per connection at 10,000 connections. Semi-spaces of 2 MiB keep
 * that down with no loss of fan-out throughput measured (bench/, docs/benchmarks.md).
 */
export const SIDECAR_NODE_OPTIONS = ["--max-semi-space-size=2"] as const;
