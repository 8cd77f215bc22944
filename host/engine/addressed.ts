/**
 * A connection's addresses as node:net gives them (`remoteAddress`, `remotePort`, ...), written
 * once for every kind of connection of both engines: each engine only says `localAddr` and
 * `remoteAddr` (gnet's strings); the parts are read back from those.
 */
import { addressParts } from '../address.js';
import { InboundStream } from './inbound.js';

export abstract class AddressedStream extends InboundStream {
  /** This end's address, e.g. `tcp://127.0.0.1:9000`. */
  abstract readonly localAddr: string;
  /** The peer's address. */
  abstract readonly remoteAddr: string;

  get remoteAddress(): string | undefined {
    return addressParts(this.remoteAddr).address;
  }
  get remotePort(): number | undefined {
    return addressParts(this.remoteAddr).port;
  }
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return addressParts(this.remoteAddr).family;
  }
  get localAddress(): string | undefined {
    return addressParts(this.localAddr).address;
  }
  get localPort(): number | undefined {
    return addressParts(this.localAddr).port;
  }
}
