import { vi } from 'vitest';
import { logger } from '#shared/logger';

/**
 * Captures what the real structured logger prints (at INFO and above) while `run` runs, one object
 * per line: on stdout, and on stderr for WARN and ERROR lines (Powertools writes those with console.error/warn).
 */
export async function printedBy(run: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const writes = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
  logger.setLogLevel('INFO');
  try {
    await run();
  } finally {
    logger.setLogLevel('SILENT');
    for (const write of writes) write.mockRestore();
  }
  return lines.flatMap((l) => l.split('\n')).filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}
