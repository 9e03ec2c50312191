// The Docker Engine API client: dockerode over the engine's unix socket, at the API version
// tasknet is tested against (Docker Engine 20.10 and Podman 4.3's compatible service both speak
// it). dockerode is loaded on first use only: the CLI commands that never meet an engine do not
// pay for it (~160 ms of module loading, measured on Node 20).
import { request } from 'node:http';
import { createRequire } from 'node:module';
import type Dockerode from 'dockerode';

export const ENGINE_API_VERSION = '1.41';

export type Engine = Dockerode;

// dockerode is CommonJS: required, not import()ed. The agent's bundle runs from a V8 code cache
// (src/cni/code-cache.ts), and under Node 20 a script compiled from cached data has no callback for
// import(), which throws there. In the bundle `require` is the module's own (the build keeps the
// literal require("dockerode"), external); run from the sources (ESM: the tests) there is none, and
// one is made (scripts/build.mjs defines import.meta.url away).
export const connectEngine = async (socket: string): Promise<Engine> => {
  const Docker = (
    typeof require === 'function' ? require('dockerode') : createRequire(import.meta.url)('dockerode')
  ) as typeof Dockerode;
  return new Docker({ socketPath: socket, version: `v${ENGINE_API_VERSION}` });
};

// True when something answers the Engine API's /_ping on the socket (without loading dockerode).
export const pingEngine = (socket: string, timeoutMs = 2000): Promise<boolean> =>
  new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });

// The HTTP status an Engine API call failed with (docker-modem puts it on the error), if any.
export const engineStatus = (error: unknown): number | undefined => {
  const status = (error as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : undefined;
};

// The engine's own message ({"message": ...} in the reply body), else the error's.
export const engineMessage = (error: unknown): string => {
  const json = (error as { json?: { message?: unknown } })?.json;
  if (json && typeof json.message === 'string') return json.message;
  return (error as Error)?.message ?? String(error);
};

// The engine multiplexes stdout and stderr of a container without a TTY into frames: a header of
// 8 bytes (stream 1 or 2, three zero bytes, the payload size big-endian), then the payload.
export const demuxFrames = (data: Buffer): { stream: 1 | 2; payload: Buffer }[] => {
  const out: { stream: 1 | 2; payload: Buffer }[] = [];
  for (let at = 0; at + 8 <= data.length; ) {
    const size = data.readUInt32BE(at + 4);
    out.push({ stream: data[at] === 2 ? 2 : 1, payload: data.subarray(at + 8, at + 8 + size) });
    at += 8 + size;
  }
  return out;
};

// The engine's reply streams carry a line of JSON per step; an {"error": ...} line is a failure.
export const drainProgress = (engine: Engine, stream: NodeJS.ReadableStream): Promise<unknown[]> =>
  new Promise((resolve, reject) => {
    engine.modem.followProgress(stream, (error: Error | null, output: unknown[]) => {
      if (error) return reject(error);
      const failed = output.find((o) => (o as { error?: string }).error);
      return failed ? reject(new Error((failed as { error: string }).error)) : resolve(output);
    });
  });
