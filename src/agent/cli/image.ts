// tasknet image load|build|ls: images on the engine the agent uses (or the one --engine-socket
// names), for hosts that reach no registry.
import { resolve } from 'node:path';
import { callAgent } from '../daemon/client.js';
import { expectOk } from './replies.js';
import { connectEngine, engineMessage, type Engine } from '../runtime/engine/client.js';
import { buildImageDir, loadImageFile } from '../runtime/engine/images.js';
import { parseCommand, printTable } from './common.js';
import { CliError } from './errors.js';

const HELP = `usage: tasknet image load FILE.tar [--engine-socket PATH] [--state-dir DIR]
       tasknet image build DIR -t NAME[:TAG] [--engine-socket PATH] [--state-dir DIR]
       tasknet image ls [--engine-socket PATH] [--state-dir DIR]

Images on the engine the agent runs tasks on (default: the agent's, as the agent of --state-dir
reports it; or the engine at --engine-socket).
  load FILE.tar   an image archive made by 'docker save' (or 'podman save --format docker-archive')
  build DIR       a Dockerfile build with DIR as the context; its FROM must be an image the engine
                  has (offline: tasknet/busybox:1, tasknet/node:20 in the lab) or can pull
  ls              the engine's images`;

const engineOf = async (stateDir: string, given: string | undefined): Promise<Engine> => {
  let socket = given;
  if (!socket) {
    const health = expectOk(await callAgent<{ engineSocket?: string }>(stateDir, 'GET', '/health'));
    if (!health.engineSocket) throw new CliError(`the agent of ${stateDir} has no engine (give --engine-socket PATH)`);
    socket = health.engineSocket;
  }
  return connectEngine(socket);
};

export const imageCommand = async (argv: string[]): Promise<number> => {
  const cmd = parseCommand(argv, { 'engine-socket': { type: 'string' }, tag: { type: 'string', short: 't' } });
  if (cmd.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [verb, arg, ...extra] = cmd.positionals;
  const socket = cmd.values['engine-socket'] as string | undefined;
  try {
    if (verb === 'load' && arg && extra.length === 0) {
      const engine = await engineOf(cmd.stateDir, socket);
      for (const line of await loadImageFile(engine, resolve(arg))) process.stdout.write(`${line}\n`);
      return 0;
    }
    if (verb === 'build' && arg && extra.length === 0) {
      const tag = cmd.values.tag as string | undefined;
      if (!tag) throw new CliError(`build needs -t NAME[:TAG] (tasknet image --help shows the usage)`, true);
      const engine = await engineOf(cmd.stateDir, socket);
      for (const line of await buildImageDir(engine, resolve(arg), tag)) process.stdout.write(`${line}\n`);
      return 0;
    }
    if (verb === 'ls' && arg === undefined) {
      const engine = await engineOf(cmd.stateDir, socket);
      const images = await engine.listImages();
      printTable(
        ['IMAGE', 'ID', 'SIZE'],
        images.flatMap((i) =>
          (i.RepoTags ?? ['<none>']).map((tag) => [
            tag,
            i.Id.replace(/^sha256:/, '').slice(0, 12),
            `${(i.Size / 1e6).toFixed(1)} MB`,
          ]),
        ),
      );
      return 0;
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(engineMessage(error));
  }
  throw new CliError(`expected load FILE.tar, build DIR -t NAME or ls (tasknet image --help shows the usage)`, true);
};
