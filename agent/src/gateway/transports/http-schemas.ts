import * as z from 'zod';

/**
 * Config of the `http` register transport (a register's `transport` key). The register id in
 * the URL path is the register's own `id`; several registers may name the same host and port
 * and then share one listener. Keep the listener on loopback or the store LAN: the path is all
 * that picks the register, there is no authentication of the caller.
 */
export const HttpTransportSchema = z.strictObject({
  type: z.literal('http'),
  host: z.string().min(1, 'a host name or IP address to listen on, e.g. 127.0.0.1').default('127.0.0.1'),
  port: z
    .number()
    .int('an integer port from 0 to 65535')
    .min(0, 'a port from 0 to 65535')
    .max(65535, 'a port from 0 to 65535'),
  /** A request body (or WebSocket message) over this is refused with 413 without being read. */
  maxBodyBytes: z
    .number()
    .int('a whole number of bytes from 16 to 1048576')
    .min(16, 'a whole number of bytes from 16 to 1048576')
    .max(1_048_576, 'a whole number of bytes from 16 to 1048576')
    .default(65_536),
  /** A POST not answered within this is answered 504 (the register sends it again; ids make that safe). */
  requestTimeoutMs: z
    .number()
    .int('a whole number of milliseconds from 100 to 120000')
    .min(100, 'a whole number of milliseconds from 100 to 120000')
    .max(120_000, 'a whole number of milliseconds from 100 to 120000')
    .default(10_000),
  /** Content type of the reply body ("application/json" for the jsonl codec). */
  contentType: z
    .string()
    .regex(
      /^[\w.+-]+\/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+-]+)*$/,
      'a media type, e.g. application/json or application/xml; charset=utf-8',
    )
    .default('application/json'),
});
export type HttpTransportConfig = z.infer<typeof HttpTransportSchema>;
