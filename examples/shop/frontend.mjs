// frontend: the page users see. GET / assembles a page from catalog (HTTP, $CATALOG_ADDR) and
// orders (gRPC, $ORDERS_ADDR); GET /api/products passes the catalog's JSON through.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const port = Number(process.env.PORT ?? 0);
const replica = process.env.TRELLIS_REPLICA ?? '?';
const catalogAddr = process.env.CATALOG_ADDR ?? '127.0.0.1:7001';
const ordersAddr = process.env.ORDERS_ADDR ?? '127.0.0.1:7002';

const definition = protoLoader.loadSync(fileURLToPath(new URL('./orders.proto', import.meta.url)), {
  keepCase: false, longs: Number, defaults: true,
});
const shop = grpc.loadPackageDefinition(definition).shop;
const ordersClient = new shop.Orders(ordersAddr, grpc.credentials.createInsecure());

// Keep-alive agent so calls to the local outbound proxy reuse connections.
const catalogAgent = new http.Agent({ keepAlive: true });

// Trace context the mesh put on our inbound request, passed on to our own calls so the mesh's
// spans for them join the same trace (docs/tracing.md: apps forward these headers).
const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];
function traceHeadersOf(req) {
  const out = {};
  for (const h of TRACE_HEADERS) if (typeof req.headers[h] === 'string') out[h] = req.headers[h];
  return out;
}
function traceMetadata(trace) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(trace)) md.set(k, v);
  return md;
}

function getCatalog(trace = {}) {
  const [host, portText] = catalogAddr.split(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(portText), path: '/products', agent: catalogAgent, headers: trace, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`catalog answered ${res.statusCode} ${res.headers['trellis-reason'] ?? ''} ${text}`));
          return;
        }
        try { resolve(JSON.parse(text)); } catch (err) { reject(err); }
      });
    });
    req.on('timeout', () => req.destroy(new Error('catalog timed out')));
    req.on('error', reject);
  });
}

function placeOrder(sku, trace = {}) {
  return new Promise((resolve, reject) => {
    ordersClient.placeOrder({ sku, quantity: 1 }, traceMetadata(trace), { deadline: Date.now() + 5000 }, (err, order) => (err ? reject(err) : resolve(order)));
  });
}

function watchOrder(id, trace = {}) {
  return new Promise((resolve, reject) => {
    const events = [];
    const call = ordersClient.watchOrder({ id }, traceMetadata(trace), { deadline: Date.now() + 5000 });
    call.on('data', (e) => events.push(e.status));
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

async function renderPage(trace) {
  const lines = [`<h1>Trellis shop</h1>`, `<p>page by frontend/${replica}</p>`];
  let firstSku = 'mug';
  try {
    const catalog = await getCatalog(trace);
    firstSku = catalog.products[0]?.sku ?? firstSku;
    lines.push(`<h2>Products (from ${escapeHtml(catalog.servedBy)} over HTTP)</h2><ul>`);
    for (const p of catalog.products) {
      lines.push(`<li>${escapeHtml(p.name)}: $${(p.priceCents / 100).toFixed(2)}</li>`);
    }
    lines.push('</ul>');
  } catch (err) {
    lines.push(`<p>catalog unavailable: ${escapeHtml(err.message)}</p>`);
  }
  try {
    const order = await placeOrder(firstSku, trace);
    const events = await watchOrder(order.id, trace);
    lines.push(`<h2>Order (from ${escapeHtml(order.servedBy)} over gRPC)</h2>`);
    lines.push(`<p>Order ${escapeHtml(order.id)}: ${escapeHtml(order.status)} (stock left: ${order.stockLeft})</p>`);
    lines.push(`<p>Tracking: ${escapeHtml(events.join(' -> '))}</p>`);
  } catch (err) {
    lines.push(`<p>orders unavailable: ${escapeHtml(err.details ?? err.message)}</p>`);
  }
  return `<!doctype html>\n<html><head><title>Trellis shop</title></head><body>\n${lines.join('\n')}\n</body></html>\n`;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://frontend');
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (req.method === 'GET' && url.pathname === '/api/products') {
    getCatalog(traceHeadersOf(req)).then(
      (catalog) =>
        res
          .writeHead(200, { 'content-type': 'application/json', 'x-catalog-served-by': catalog.servedBy })
          .end(JSON.stringify(catalog.products)),
      (err) => res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message })),
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/') {
    renderPage(traceHeadersOf(req)).then(
      (html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html),
      (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${err.message}\n`),
    );
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});

server.listen(port, '127.0.0.1', () => {
  console.log(`frontend replica ${replica} listening on 127.0.0.1:${server.address().port}, catalog at ${catalogAddr}, orders at ${ordersAddr}`);
});

process.on('SIGTERM', () => {
  server.close();
  server.closeIdleConnections();
  ordersClient.close();
  catalogAgent.destroy();
  setTimeout(() => process.exit(0), 2000).unref();
});
