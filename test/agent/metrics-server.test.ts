// The TCP metrics listener's limits: a client cannot hold more than its share of the agent's
// descriptors (connections past the cap are closed at once) or hold one open without a request.
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { AgentMetrics, createMetricsServer, METRICS_LIMITS } from '../../src/agent/daemon/metrics.js';

const listen = async (t: { teardown(fn: () => void): void }, limits = METRICS_LIMITS) => {
  const server = createMetricsServer(new AgentMetrics({ tasks: () => [], processMetrics: false }), limits);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port };
};

const open = async (port: number): Promise<Socket> => {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
};

t.test('connections past the cap are closed at once; the ones under it are served', async (t) => {
  const { port } = await listen(t);
  const held: Socket[] = [];
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  for (let i = 0; i < METRICS_LIMITS.maxConnections; i++) held.push(await open(port));
  const extra = await open(port);
  await once(extra, 'close');
  t.pass(`connection ${METRICS_LIMITS.maxConnections + 1} closed by the server`);
  const first = held[0]!;
  first.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let reply = '';
  first.on('data', (d: Buffer) => {
    reply += d;
  });
  await once(first, 'end');
  t.match(reply, /^HTTP\/1\.1 200 OK/, 'a held connection is served');
  t.match(reply, /tasknet_tasks\{state="RUNNING"\} 0/);
});

t.test('a connection that never sends its headers is closed', { timeout: 60_000 }, async (t) => {
  // The agent's limits, with a shorter header timeout so the test is quick.
  const { port } = await listen(t, { ...METRICS_LIMITS, headersTimeoutMs: 500, requestTimeoutMs: 1000 });
  const idle = await open(port);
  idle.write('GET /metrics HTTP/1.1\r\n'); // and nothing more
  let reply = '';
  idle.on('data', (d: Buffer) => {
    reply += d;
  });
  await once(idle, 'close');
  t.match(reply, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
  t.pass('closed by the server');
});
