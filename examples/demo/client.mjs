// Run in the VPC namespace: fetches a URL (the web page through the task's ENI address) and
// prints the answer; exit 0 on 200.
const url = process.argv[2];
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  process.stdout.write(`GET ${url} -> ${res.status}\n${await res.text()}`);
  process.exit(res.status === 200 ? 0 : 1);
} catch (error) {
  console.log(`GET ${url} -> failed: ${error.cause?.code ?? error.message}`);
  process.exit(1);
}
