// dante: streams Canto I of Dante's Inferno (Longfellow's translation) to the browser, one stanza
// every two seconds, over a WebSocket. Node's built-ins only: the WebSocket protocol (RFC 6455) is
// implemented below, small and strict: text frames, ping/pong, close, client masking, fragmentation.
//
// It listens where hostctl says: PORT as a Unix socket path or a TCP port, or the socket passed as
// fd 3 (LISTEN_FDS=1). GET / serves the page; an upgrade on the same URL opens the stream.
// STANZA_INTERVAL_MS sets the pace (default 2000).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const stanzas = fs.readFileSync(path.join(__dirname, 'canto1.txt'), 'utf8').trim().split(/\n\s*\n/);
const page = fs.readFileSync(path.join(__dirname, 'index.html'));
const interval = Number(process.env.STANZA_INTERVAL_MS || 2000);
const worker = { slot: process.env.HOSTCTL_WORKER || '-', pid: process.pid };
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://x');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
        return response.end('method not allowed\n');
    }
    if (url.pathname === '/' || url.pathname === '/index.html') {
        response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
        return response.end(request.method === 'HEAD' ? undefined : page);
    }
    if (url.pathname === '/canto1.txt') {
        response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        return response.end(stanzas.join('\n\n') + '\n');
    }
    response.writeHead(404, { 'Content-Type': 'text/plain' });
    response.end('not found\n');
});

server.on('upgrade', (request, socket, head) => {
    const key = request.headers['sec-websocket-key'];
    const upgrade = (request.headers.upgrade || '').toLowerCase();
    if (upgrade !== 'websocket' || !key || request.headers['sec-websocket-version'] !== '13') {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
            'a WebSocket upgrade needs Upgrade: websocket, Sec-WebSocket-Key and Sec-WebSocket-Version: 13\n');
        return;
    }
    const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    recite(new WebSocket(socket, head));
});

/// Sends the stanzas one by one, then closes with 1000.
function recite(ws) {
    let index = 0;
    const next = () => {
        if (ws.closed) return;
        if (index === stanzas.length) return ws.close(1000, 'here ends the first canto');
        ws.send(JSON.stringify({ index: index + 1, total: stanzas.length, text: stanzas[index], worker }));
        index += 1;
        timer = setTimeout(next, interval);
    };
    let timer = setTimeout(next, 0);
    ws.onclose = () => clearTimeout(timer);
    ws.onmessage = (text) => {
        // "again" starts the canto over; anything else is ignored.
        if (text.trim() === 'again') {
            clearTimeout(timer);
            index = 0;
            timer = setTimeout(next, 0);
        }
    };
}

/// One server-side WebSocket connection over `socket`.
class WebSocket {
    constructor(socket, head) {
        this.socket = socket;
        this.buffer = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
        this.fragments = null; // the opcode and pieces of a fragmented message in progress
        this.closed = false;
        this.onmessage = () => {};
        this.onclose = () => {};
        socket.on('data', (data) => {
            this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
            this.parse();
        });
        socket.on('close', () => this.finish());
        socket.on('error', () => this.finish());
        if (this.buffer.length) this.parse();
    }

    send(text) { this.frame(0x1, Buffer.from(text, 'utf8')); }

    close(code, reason) {
        if (this.closed) return;
        const body = Buffer.alloc(2 + Buffer.byteLength(reason || ''));
        body.writeUInt16BE(code, 0);
        if (reason) body.write(reason, 2);
        this.frame(0x8, body);
        this.closed = true;
        this.onclose();
        this.socket.end();
    }

    frame(opcode, payload) {
        if (this.socket.destroyed) return;
        let header;
        if (payload.length < 126) {
            header = Buffer.from([0x80 | opcode, payload.length]);
        } else if (payload.length < 65536) {
            header = Buffer.alloc(4);
            header[0] = 0x80 | opcode;
            header[1] = 126;
            header.writeUInt16BE(payload.length, 2);
        } else {
            header = Buffer.alloc(10);
            header[0] = 0x80 | opcode;
            header[1] = 127;
            header.writeBigUInt64BE(BigInt(payload.length), 2);
        }
        this.socket.write(Buffer.concat([header, payload]));
    }

    parse() {
        while (!this.closed) {
            const b = this.buffer;
            if (b.length < 2) return;
            const fin = (b[0] & 0x80) !== 0;
            const opcode = b[0] & 0x0f;
            const masked = (b[1] & 0x80) !== 0;
            let length = b[1] & 0x7f;
            let offset = 2;
            if (b[0] & 0x70) return this.fail(1002, 'reserved bits set');
            if (!masked) return this.fail(1002, 'client frames must be masked');
            if (length === 126) {
                if (b.length < 4) return;
                length = b.readUInt16BE(2);
                offset = 4;
            } else if (length === 127) {
                if (b.length < 10) return;
                const big = b.readBigUInt64BE(2);
                if (big > BigInt(MAX_MESSAGE)) return this.fail(1009, 'message too big');
                length = Number(big);
                offset = 10;
            }
            if (length > MAX_MESSAGE) return this.fail(1009, 'message too big');
            if (b.length < offset + 4 + length) return;
            const mask = b.subarray(offset, offset + 4);
            const payload = Buffer.from(b.subarray(offset + 4, offset + 4 + length));
            for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
            this.buffer = b.subarray(offset + 4 + length);
            if (opcode >= 0x8) {
                // Control frames: never fragmented, at most 125 bytes, allowed between fragments.
                if (!fin || length > 125) return this.fail(1002, 'bad control frame');
                if (opcode === 0x8) {
                    const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
                    return this.close(code === 1005 || code === 1006 ? 1000 : code, '');
                }
                if (opcode === 0x9) this.frame(0xA, payload);
                else if (opcode !== 0xA) return this.fail(1002, 'unknown control opcode');
                continue;
            }
            if (opcode === 0x0) {
                if (!this.fragments) return this.fail(1002, 'continuation without a message');
                this.fragments.pieces.push(payload);
                this.fragments.size += payload.length;
                if (this.fragments.size > MAX_MESSAGE) return this.fail(1009, 'message too big');
            } else if (opcode === 0x1 || opcode === 0x2) {
                if (this.fragments) return this.fail(1002, 'new message inside a fragmented one');
                this.fragments = { opcode, pieces: [payload], size: payload.length };
            } else {
                return this.fail(1002, 'unknown opcode');
            }
            if (fin) {
                const message = Buffer.concat(this.fragments.pieces);
                const kind = this.fragments.opcode;
                this.fragments = null;
                if (kind === 0x1) {
                    let text;
                    try {
                        text = utf8.decode(message);
                    } catch (error) {
                        return this.fail(1007, 'invalid UTF-8');
                    }
                    this.onmessage(text);
                }
            }
        }
    }

    fail(code, reason) { this.close(code, reason); }

    finish() {
        if (this.closed) return;
        this.closed = true;
        this.onclose();
    }
}

// Stop gracefully on SIGTERM: no new connections; open streams go on until they end (or hostctl's
// stop timeout does); idle keep-alive connections are closed.
process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    if (server.closeIdleConnections) server.closeIdleConnections();
});

const port = process.env.PORT;
if (process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid)) {
    server.listen({ fd: 3 }, () => console.log(`dante: worker ${worker.slot} listening on fd 3`));
} else if (port && port.includes('/')) {
    try { fs.unlinkSync(port); } catch (error) { /* not there */ }
    server.listen(port, () => console.log(`dante: worker ${worker.slot} listening on ${port}`));
} else if (port) {
    server.listen(Number(port), '127.0.0.1', () => console.log(`dante: worker ${worker.slot} listening on 127.0.0.1:${port}`));
} else {
    console.error('dante: no PORT (run it under hostctl, or PORT=8000 node server.js)');
    process.exit(2);
}
