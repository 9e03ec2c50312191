// `tasknet logs` and `tasknet exec` for containers on the engine runtime: straight to the engine
// (the agent tells where it is and which container), as `docker logs` and `docker exec` do.
import type { Duplex, Writable } from 'node:stream';
import { connectEngine, demuxFrames, engineMessage } from '../runtime/engine/client.js';
import { CliError } from './errors.js';

export const engineLogs = async (
  socket: string,
  engineId: string,
  { follow, tail, out }: { follow: boolean; tail?: number; out: (text: string) => void },
): Promise<void> => {
  const engine = await connectEngine(socket);
  const container = engine.getContainer(engineId);
  const options = { stdout: true, stderr: true, ...(tail !== undefined ? { tail } : {}) };
  try {
    if (!follow) {
      for (const frame of demuxFrames(await container.logs({ ...options, follow: false })))
        out(frame.payload.toString());
      return;
    }
    const stream = await container.logs({ ...options, follow: true });
    await new Promise<void>((resolve, reject) => {
      const sink = {
        write: (chunk: Buffer) => {
          out(chunk.toString());
          return true;
        },
      } as unknown as Writable;
      engine.modem.demuxStream(stream, sink, sink);
      stream.on('end', resolve);
      stream.on('error', reject);
    });
  } catch (error) {
    throw new CliError(`logs of container ${engineId.slice(0, 12)}: ${engineMessage(error)}`);
  }
};

// Runs a command in the container through the engine's exec API; resolves with its exit code.
export const engineExec = async (socket: string, engineId: string, argv: string[]): Promise<number> => {
  const engine = await connectEngine(socket);
  try {
    const exec = await engine.getContainer(engineId).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
    const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
    await new Promise<void>((resolve, reject) => {
      engine.modem.demuxStream(stream, process.stdout, process.stderr);
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    const { ExitCode } = (await exec.inspect()) as { ExitCode: number | null };
    return ExitCode ?? 1;
  } catch (error) {
    throw new CliError(`exec in container ${engineId.slice(0, 12)}: ${engineMessage(error)}`);
  }
};
