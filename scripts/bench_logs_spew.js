// scripts/bench logs: a node worker that logs the way node apps do, one console.log (stdout) and one
// console.error (stderr) per line, each a write of its own. Same lines as hostctl's fixture worker:
//   node bench_logs_spew.js --lines N [--line-bytes B] [--then-serve]
// writes N lines to each stream (`out <slot> <i> xxx…`, B bytes with the newline), then exits, or with
// --then-serve listens on $PORT (so that under hostctl it becomes ready and is not restarted).
'use strict';
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const lines = arg('--lines', 1000);
const size = arg('--line-bytes', 100);
const slot = process.env.HOSTCTL_WORKER || '0';
const line = (stream, index) => {
  const head = `${stream} ${slot} ${index} `;
  return head + 'x'.repeat(Math.max(0, size - 1 - head.length));
};
for (let index = 1; index <= lines; index++) {
  console.log(line('out', index));
  console.error(line('err', index));
}
if (process.argv.includes('--then-serve')) {
  require('http').createServer((request, response) => response.end('spewed\n')).listen(process.env.PORT);
}
