import pino, { type DestinationStream, type Logger } from 'pino';
import { loggableError } from './loggable-error.js';

/** Paths that must never reach a log line, whatever object gets logged, by the server or the CLI. */
export const REDACT = [
  'password',
  '*.password',
  'currentPassword',
  'newPassword',
  'token',
  '*.token',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'passwordHash',
  '*.passwordHash',
  'privateJwk',
  '*.privateJwk',
  // Parser errors carry the raw request body.
  'err.body',
  '*.err.body',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
];

/**
 * The one logger factory. Synchronous writes (pino's default): an asynchronous destination measured no faster
 * here, and lost the last lines at shutdown.
 */
export function createLogger(options: { level: string; base?: Record<string, unknown>; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { service: 'pulse-auth', ...options.base },
      // Whoever logs an error (a job, the mailer, a handler), a database error loses its SQL and values first.
      serializers: { err: (error: unknown) => pino.stdSerializers.err(loggableError(error) as Error) },
    },
    options.destination,
  );
}
