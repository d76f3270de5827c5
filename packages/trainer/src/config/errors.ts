import { FormatError } from "@lethe/core";

/** A training config that cannot be used: the message names the file or flag and the dotted field. */
export class ConfigError extends FormatError {
  override readonly name = "ConfigError";
}
