// Run inside a task (tasknet exec): reads role credentials from the endpoint at 169.254.170.2,
// by default through the task's own AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, or through the
// relative URI given as the first argument. Prints the answer (secret masked); exit 0 on 200.
const uri = process.argv[2] ?? process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
if (!uri) {
  console.log('no AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in this container');
  process.exit(2);
}
const url = `http://169.254.170.2${uri}`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const body = await res.json().catch(() => ({}));
  if (body.SecretAccessKey) body.SecretAccessKey = `${body.SecretAccessKey.slice(0, 4)}...`;
  if (body.Token) body.Token = `${body.Token.slice(0, 16)}...`;
  console.log(`GET ${url} -> ${res.status} ${JSON.stringify(body)}`);
  process.exit(res.status === 200 ? 0 : 1);
} catch (error) {
  console.log(`GET ${url} -> failed: ${error.cause?.code ?? error.message}`);
  process.exit(1);
}
