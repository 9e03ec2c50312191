import { appendFileSync } from 'node:fs';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, off: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, 'off'>;

const levelFromEnv = (): number => {
  const name = (process.env.TASKNET_LOG_LEVEL ?? process.env.ECS_CNI_LOGLEVEL ?? 'warn').toLowerCase();
  return LEVELS[name as keyof typeof LEVELS] ?? LEVELS.warn;
};

// Plugin logs never touch stdout (it carries the CNI result). They go to ECS_CNI_LOG_FILE when
// set, as upstream's plugins do, else to stderr, which runtimes forward to their own log.
const write = (level: Level, message: string): void => {
  if (LEVELS[level] < levelFromEnv()) return;
  const line = `${new Date().toISOString()} [${level.toUpperCase()}] ${message}\n`;
  const file = process.env.ECS_CNI_LOG_FILE;
  if (file) {
    try {
      appendFileSync(file, line, { mode: 0o600 });
      return;
    } catch {
      /* fall back to stderr below */
    }
  }
  process.stderr.write(line);
};

export const logger = {
  /** Whether a line of this level would be written: callers that build costly lines ask first. */
  enabled: (level: Level): boolean => LEVELS[level] >= levelFromEnv(),
  debug: (message: string) => write('debug', message),
  info: (message: string) => write('info', message),
  warn: (message: string) => write('warn', message),
  error: (message: string) => write('error', message),
};
