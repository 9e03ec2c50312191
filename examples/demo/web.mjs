// The demo's `web` container: a page on port 80 that asks the `api` container for data over
// 127.0.0.1:8080. Containers of an awsvpc task share one network stack, so this is all it takes.
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 80);
const api = process.env.API_URL ?? 'http://127.0.0.1:8080/';
const server = createServer(async (req, res) => {
  try {
    const reply = await fetch(api);
    const data = await reply.json();
    res
      .writeHead(200, { 'content-type': 'text/plain' })
      .end(
        `hello from web on ${hostname()} (client ${req.socket.remoteAddress})\napi over ${api} answered: ${JSON.stringify(data)}\n`,
      );
  } catch (error) {
    res.writeHead(502, { 'content-type': 'text/plain' }).end(`web: api at ${api} failed: ${error.message}\n`);
  }
});
server.listen(port, () => console.log(`web listening on :${port}, api at ${api}`));
process.on('SIGTERM', () => {
  console.log('web: SIGTERM, bye');
  server.close();
  process.exit(0);
});
