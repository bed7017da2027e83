// The smallest app hostctl hosts: it listens where PORT says (a TCP port or a Unix socket path).
const http = require('http');
const port = process.env.PORT || 3000;
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`hello from worker ${process.env.HOSTCTL_WORKER || '-'} of ${process.env.HOSTCTL_APP || 'hello'}: ${req.url}\n`);
}).listen(port, () => console.log(`listening on ${port}`));
