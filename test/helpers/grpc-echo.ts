/** A typed @grpc/grpc-js client for test/fixtures/echo.proto (served by grpc-echo.mjs). */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fixturesDir } from './mesh.js';

export interface EchoReply {
  message: string;
  index: number;
  peerIdentity: string;
  metadata: Record<string, string>;
}
export type EchoCallback = (err: grpc.ServiceError | null, reply?: EchoReply) => void;
type Unary = (req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: EchoCallback) => grpc.ClientUnaryCall;

export interface EchoClient extends grpc.Client {
  unary: Unary;
  missing: Unary;
  flaky: Unary;
  slow: Unary;
  serverStream(req: { message: string; count: number }, opts: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  bidi(opts: grpc.CallOptions): grpc.ClientDuplexStream<{ message: string }, EchoReply>;
}

/**
 * A client for <host>:<port> (default 127.0.0.1): over h2c (an outbound listener of the mesh)
 * unless `credentials` say TLS (an ingress's TLS listener).
 */
export function echoClient(port: number, options: grpc.ClientOptions = {}, hostOrCredentials: string | grpc.ChannelCredentials = '127.0.0.1'): EchoClient {
  const def = protoLoader.loadSync(join(fixturesDir, 'echo.proto'), { keepCase: false, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    echo: { Echo: new (addr: string, creds: grpc.ChannelCredentials, options: grpc.ClientOptions) => EchoClient };
  };
  const host = typeof hostOrCredentials === 'string' ? hostOrCredentials : '127.0.0.1';
  const credentials = typeof hostOrCredentials === 'string' ? grpc.credentials.createInsecure() : hostOrCredentials;
  return new pkg.echo.Echo(`${host}:${port}`, credentials, options);
}

/** One unary-style call; resolves with the reply or the ServiceError (never rejects). */
export function call(
  client: EchoClient,
  method: 'unary' | 'missing' | 'flaky' | 'slow',
  message: string,
  opts: grpc.CallOptions = { deadline: Date.now() + 20_000 },
  md: grpc.Metadata = new grpc.Metadata(),
): Promise<{ reply: EchoReply | undefined; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    client[method]({ message }, md, opts, (error, reply) => resolve({ reply, error }));
  });
}
