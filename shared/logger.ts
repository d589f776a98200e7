import { pino, type DestinationStream, type Logger } from 'pino';

export type { DestinationStream, Logger };

// Secrets never reach a log line, whatever object they hide in.
const secretKeys = ['authorization', 'cookie', 'set-cookie', 'client_secret', 'code', 'code_verifier', 'refresh_token',
  'access_token', 'password', 'token', 'handle', '_csrf'];
const redactPaths = secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `req.headers.${key}`]);

/** `destination`: where the JSON lines go (stdout by default; tests capture them). */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: {
      err: pino.stdSerializers.err,
      // Only the path, never the query string: authorization requests and redirects carry codes and state.
      req: (req: { id?: string; method?: string; url?: string }) => ({ id: req.id, method: req.method, path: req.url?.split('?')[0] }),
    },
  }, destination);
}
