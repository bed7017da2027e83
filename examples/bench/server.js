// The benchmark backend: 6 bytes at any path, 64 KiB at /64k, and POST bodies read and answered.
const http = require('http');
const big = Buffer.alloc(65536, 'x');
http.createServer((req, res) => {
  if (req.method === 'POST') {
    let size = 0;
    req.on('data', (chunk) => { size += chunk.length; });
    req.on('end', () => { res.end('ok ' + size); });
    return;
  }
  if (req.url === '/64k') { res.end(big); return; }
  res.end('hello\n');
}).listen(process.env.PORT);
