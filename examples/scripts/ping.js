// A JavaScript payload: `supertask run --when=1m -- node:./scripts/ping.js` (from examples/).
const started = Date.now();
const net = require("net");
const socket = net.connect({ host: "127.0.0.1", port: Number(process.env.PING_PORT || 1883) }, () => {
  console.log(`ping 127.0.0.1:${socket.remotePort} ok in ${Date.now() - started} ms`);
  socket.end();
});
socket.on("error", (err) => {
  console.error(`ping failed: ${err.message}`);
  process.exit(1);
});
