/** Sending a request and reading the server's clock (the response's Date header) along with the result. */
import type { S3Client } from "@aws-sdk/client-s3";

type Handler = (args: unknown) => Promise<{ response?: { headers?: Record<string, string> } }>;
interface Stack {
  add(middleware: (next: Handler) => Handler, options: { step: "deserialize" }): void;
}

/** `Output` is the command's output type, e.g. GetObjectCommandOutput. */
export async function sendWithServerTime<Output>(
  client: S3Client,
  command: { middlewareStack: unknown },
): Promise<{ output: Output; serverNow: Date | undefined }> {
  let date: string | undefined;
  (command.middlewareStack as Stack).add(
    (next) => async (args) => {
      const result = await next(args);
      date = result.response?.headers?.date;
      return result;
    },
    { step: "deserialize" },
  );
  const output = await (client.send as (c: unknown) => Promise<Output>).call(client, command);
  const parsed = date ? new Date(date) : undefined;
  return { output, serverNow: parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined };
}
