// A local HTTP endpoint for webhooks: answers `status` (500 until told otherwise) and keeps every
// request it got.
import http from 'node:http';

export async function webhookReceiver(t) {
  const r = { status: 500, requests: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      r.requests.push({ headers: req.headers, body, answered: r.status });
      res.writeHead(r.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${server.address().port}/hooks`;
  t.after(() => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }));
  return r;
}
