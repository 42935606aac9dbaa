// orders: gRPC service shop.Orders (unary PlaceOrder, server-streaming WatchOrder) over
// HTTP/2 cleartext to its proxy. It reserves stock from inventory over TCP ($INVENTORY_ADDR).
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const port = Number(process.env.PORT ?? 0);
const replica = process.env.TRELLIS_REPLICA ?? '?';
const inventoryAddr = process.env.INVENTORY_ADDR ?? '127.0.0.1:7003';

const definition = protoLoader.loadSync(fileURLToPath(new URL('./orders.proto', import.meta.url)), {
  keepCase: false, longs: Number, defaults: true,
});
const shop = grpc.loadPackageDefinition(definition).shop;

/** One request line to inventory, one answer line back, on a fresh connection. */
function askInventory(line) {
  const [host, portText] = inventoryAddr.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(portText), host);
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error('inventory timed out')));
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk) => {
      data += chunk;
      const nl = data.indexOf('\n');
      if (nl >= 0) { resolve(data.slice(0, nl)); socket.end(); }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`inventory closed the connection (got ${JSON.stringify(data)})`)));
  });
}

let nextId = 1;
const orders = new Map();

async function placeOrder(call, callback) {
  const { sku, quantity } = call.request;
  try {
    const answer = await askInventory(`RESERVE ${sku} ${quantity || 1}`);
    const parts = answer.split(' ');
    const id = `ord-${replica}-${nextId++}`;
    const ok = parts[0] === 'OK';
    const order = {
      id, sku, quantity: quantity || 1,
      status: ok ? 'CONFIRMED' : 'OUT_OF_STOCK',
      stockLeft: Number(parts[parts.length - 1]) || 0,
      servedBy: `orders/${replica}`,
    };
    orders.set(id, order);
    callback(null, order);
  } catch (err) {
    callback({ code: grpc.status.UNAVAILABLE, details: `inventory: ${err.message}` });
  }
}

function watchOrder(call) {
  const order = orders.get(call.request.id);
  if (!order) {
    call.emit('error', { code: grpc.status.NOT_FOUND, details: `no order ${call.request.id}` });
    return;
  }
  const steps = order.status === 'CONFIRMED' ? ['PLACED', 'PACKED', 'SHIPPED'] : ['REJECTED'];
  let i = 0;
  const timer = setInterval(() => {
    if (call.cancelled) { clearInterval(timer); return; }
    call.write({ id: order.id, status: steps[i], at: new Date().toISOString() });
    i += 1;
    if (i === steps.length) { clearInterval(timer); call.end(); }
  }, 50);
}

const server = new grpc.Server();
server.addService(shop.Orders.service, { placeOrder, watchOrder });
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
  if (err) { console.error(`orders: cannot listen: ${err.message}`); process.exit(1); }
  console.log(`orders replica ${replica} listening on 127.0.0.1:${boundPort} (grpc), inventory at ${inventoryAddr}`);
});

process.on('SIGTERM', () => {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => { server.forceShutdown(); process.exit(0); }, 2000).unref();
});
