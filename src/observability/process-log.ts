import type { Logger } from 'pino';

/**
 * Makes the process's own messages JSON lines like every other: Node's warnings (deprecations, a listener leak),
 * which it would print as plain text, and an exception or rejection nothing caught, which it would print as a bare
 * stack before exiting. The exit stays (status 1): after an uncaught error the process is in no known state.
 */
export function logProcessEvents(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    logger.warn({ warning: { name: warning.name, message: warning.message, code: (warning as { code?: string }).code } }, 'node warning');
  });
  const fatal = (what: string) => (error: unknown) => {
    logger.fatal({ err: error }, `${what}; exiting`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled promise rejection'));
}
