// catalog: HTTP JSON product list. Listens on 127.0.0.1:$PORT.
// CATALOG_VERSION=v2 is the canary (README.md, "Canary"): it also sells a hoodie.
import http from 'node:http';

const port = Number(process.env.PORT ?? 0);
const replica = process.env.TRELLIS_REPLICA ?? '?';
const workload = process.env.TRELLIS_WORKLOAD ?? 'catalog';
const version = process.env.CATALOG_VERSION ?? 'v1';

const products = [
  { sku: 'mug', name: 'Trellis mug', priceCents: 1200 },
  { sku: 'tee', name: 'Sidecar t-shirt', priceCents: 2500 },
  { sku: 'sticker', name: 'mTLS sticker pack', priceCents: 300 },
  ...(version === 'v2' ? [{ sku: 'hoodie', name: 'Control-plane hoodie', priceCents: 4900 }] : []),
];

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://catalog');
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (req.method === 'GET' && url.pathname === '/products') {
    const body = JSON.stringify({ servedBy: `${workload}/${replica}`, version, caller: req.headers['trellis-peer-identity'] ?? null, products });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
});

server.listen(port, '127.0.0.1', () => {
  console.log(`catalog replica ${replica} listening on 127.0.0.1:${server.address().port}`);
});

process.on('SIGTERM', () => {
  server.close();
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
});
