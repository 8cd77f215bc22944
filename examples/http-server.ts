/**
 * A minimal HTTP/1.1 server on zgnet, the shape of gnet's benchmark HTTP server (the handler:
 * examples/http-handler.ts). GET /plaintext answers "Hello, World!"; keep-alive; pipelining.
 *
 *   node dist/examples/http-server.js [--addr 127.0.0.1:8080] [--mode native|wasm|auto] [--loops N]
 *                                     [--tls-cert cert.pem --tls-key key.pem]
 *   curl http://127.0.0.1:8080/plaintext
 *   curl --cacert ca.pem https://localhost:8080/plaintext      (with --tls-cert/--tls-key)
 *
 * The handler is given as a module, so that --loops N can use N cores (in wasm mode each loop is
 * a worker process). Prints "listening <host:port>" once bound; SIGTERM/SIGINT stop it.
 */
import { cliArgs, numberFlag, serve, tlsArgs } from './cli.js';

const args = cliArgs('http-server', { addr: '127.0.0.1:8080', mode: 'auto', loops: '1', 'tls-cert': '', 'tls-key': '' });
await serve('http-server', new URL('./http-handler.js', import.meta.url), `tcp://${args.addr}`, {
  mode: args.mode as 'native' | 'wasm' | 'auto',
  numEventLoop: numberFlag('http-server', args, 'loops'),
  tcpNoDelay: true,
  logLevel: 'warn',
  ...tlsArgs('http-server', args),
});
