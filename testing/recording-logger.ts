/** A sidecar `Logger` for tests that keeps what the sidecar says, to assert on it. */
import type { LogFields, Logger } from "../sidecar/log.js";

export interface LoggedLine {
  message: string;
  fields: LogFields;
}

/** A logger that appends every info, warn and error line to `lines`; debug lines are dropped. */
export function recordingLogger(lines: LoggedLine[]): Logger {
  const record = (message: string, fields: LogFields = {}) => {
    lines.push({ message, fields });
  };
  return { debug() {}, info: record, warn: record, error: record };
}
