// The benchmark backend: 6 bytes at any path, 64 KiB at /64k, 1 GiB streamed at /1g, POST bodies read
// and answered, and any Upgrade request switched to a byte echo (a stand-in for a WebSocket).
const http = require('http');
const big = Buffer.alloc(65536, 'x');
const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let size = 0;
    req.on('data', (chunk) => { size += chunk.length; });
    req.on('end', () => { res.end('ok ' + size); });
    return;
  }
  if (req.url === '/64k') { res.end(big); return; }
  if (req.url === '/1g') {
    res.writeHead(200, { 'content-length': String(1 << 30) });
    let sent = 0;
    const pump = () => {
      while (sent < (1 << 30)) {
        sent += big.length;
        if (!res.write(big)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
    return;
  }
  res.end('hello\n');
});
server.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
  socket.pipe(socket);
});
server.listen(process.env.PORT);
