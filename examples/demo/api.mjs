// The demo's `api` container: a JSON API on port 8080. It listens on 0.0.0.0 like a real service;
// in awsvpc that means the task's ENI address and 127.0.0.1 alike.
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 8080);
let served = 0;
const server = createServer((req, res) => {
  served++;
  const body = JSON.stringify({
    service: 'api',
    hostname: hostname(),
    served,
    path: req.url,
    from: req.socket.remoteAddress,
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
});
server.listen(port, () => console.log(`api listening on :${port}`));
// Exit promptly on SIGTERM, as a well-behaved container does.
process.on('SIGTERM', () => {
  console.log('api: SIGTERM, bye');
  server.close();
  process.exit(0);
});
