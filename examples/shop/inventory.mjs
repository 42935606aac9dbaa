// inventory: a stock service speaking a line protocol over plain TCP, so the mesh carries
// opaque TCP. Requests and answers are one line each:
//   STOCK <sku>            -> OK <sku> <count>
//   RESERVE <sku> <qty>    -> OK <sku> <left>   |  ERR out-of-stock <sku> <left>
//   anything else          -> ERR bad-request
import net from 'node:net';

const port = Number(process.env.PORT ?? 0);
const stock = new Map([['mug', 1000], ['tee', 500], ['sticker', 10000]]);

function answer(line) {
  const [verb, sku, qtyText] = line.trim().split(/\s+/);
  if (verb === 'STOCK' && sku) return `OK ${sku} ${stock.get(sku) ?? 0}`;
  if (verb === 'RESERVE' && sku) {
    const qty = Number(qtyText ?? '1');
    const left = stock.get(sku) ?? 0;
    if (!Number.isInteger(qty) || qty <= 0) return 'ERR bad-request';
    if (left < qty) return `ERR out-of-stock ${sku} ${left}`;
    stock.set(sku, left - qty);
    return `OK ${sku} ${left - qty}`;
  }
  return 'ERR bad-request';
}

const sockets = new Set();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      socket.write(`${answer(line)}\n`);
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`inventory listening on 127.0.0.1:${server.address().port} (tcp line protocol)`);
});

process.on('SIGTERM', () => {
  server.close();
  for (const s of sockets) s.end();
  setTimeout(() => process.exit(0), 2000).unref();
});
