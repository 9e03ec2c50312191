// The agent's log: pino, with levels, to stderr. `text` keeps the agent's human lines (time and
// message; the level word only when it is not info), `json` is pino's one object per line, for log
// shippers. Both write synchronously: the agent must not lose its last lines when it exits. The
// plugins keep their own small logger (src/cni/log.ts): pino is no start-up cost of theirs.
import { pino } from 'pino';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

// Structured fields (taskId, plugin, ...): in json lines; text shows only the message, which
// already names what it is about.
export type LogFields = Record<string, unknown>;

export interface AgentLog {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
}

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
}

// A text line from pino's JSON: the message as the agent always wrote it.
const textLine = (json: string): string => {
  const { time, level, msg } = JSON.parse(json) as { time: string; level: string; msg: string };
  return `${time} ${level === 'info' ? '' : `${level.toUpperCase()} `}${msg}\n`;
};

export const createAgentLog = (options: LogOptions, fd = 2): AgentLog => {
  const destination = pino.destination({ dest: fd, sync: true });
  const stream =
    options.format === 'json'
      ? destination
      : {
          write: (s: string) => {
            destination.write(textLine(s));
          },
        };
  const logger = pino(
    {
      level: options.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (fields) logger[level](fields, msg);
      else logger[level](msg);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
};

// Every level's message to one function (tests, and callers that want plain lines).
export const lineLog = (write: (line: string) => void): AgentLog => {
  const at = (msg: string): void => write(msg);
  return { error: at, warn: at, info: at, debug: at };
};
