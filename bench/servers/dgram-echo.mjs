// UDP echo server on node:dgram: every datagram goes back to its sender.
//   node bench/servers/dgram-echo.mjs [--addr 127.0.0.1:0]
// Prints "listening <host:port>"; SIGTERM/SIGINT close the socket and exit 0.
import dgram from 'node:dgram';
import { arg, formatAddress, listenTarget } from './common.mjs';

const { host, port } = listenTarget('udp', arg('addr', ''));
const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
socket.on('error', (err) => {
  console.error(`dgram-echo: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
});
socket.bind(port, host, () => process.stdout.write(`listening ${formatAddress(socket.address())}\n`));

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => socket.close(() => process.exit(0)));
}
