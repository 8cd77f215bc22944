// The multicore benchmark's zgnet handler module (bench/servers/zgnet-multicore.mjs): every
// loop's process imports it. Echo, after `handlerData.work` iterations of work per 64 bytes.
import { workFor } from './work.mjs';

let sink = 0;

export default class WorkEcho {
  constructor(data) {
    this.work = data.work;
  }

  onBoot(engine) {
    process.stdout.write(`listening ${engine.addrs[0].replace(/^[a-z0-9]+:\/\//, '')}\n`);
  }

  onTraffic(c) {
    const data = c.next();
    if (data === null || data.length === 0) return;
    if (this.work > 0) sink ^= workFor(data.length, this.work);
    c.write(data);
  }

  onShutdown() {
    if (sink === 0.5) console.log(sink); // keeps the work observable
  }
}
