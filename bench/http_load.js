// bench/http_load.js — a small closed-loop HTTP load client for POST /api/search (used by
// bench/http_load.sh): C clients, each with one keep-alive connection, send multipart photo
// searches back to back for D seconds, rotating over the given photos. Prints one JSON line:
// {"clients","seconds","requests","errors","rps","p50_ms","p90_ms","p99_ms","max_ms"}.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const [url, clients, seconds, k, ...photos] = process.argv.slice(2);
if (!url || !photos.length) {
  console.error('usage: node http_load.js URL CLIENTS SECONDS K PHOTO...');
  process.exit(2);
}
const target = new URL('/api/search?k=' + k, url);
const boundary = 'lookalike-bench-' + Date.now();
const bodies = photos.map((p) => Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${path.basename(p)}"\r\n` +
    'Content-Type: image/jpeg\r\n\r\n'),
  fs.readFileSync(p),
  Buffer.from(`\r\n--${boundary}--\r\n`),
]));

const lat = [];
let errors = 0, next = 0;
const end = Date.now() + Number(seconds) * 1000;

function one(agent) {
  return new Promise((resolve) => {
    const body = bodies[next++ % bodies.length];
    const t0 = process.hrtime.bigint();
    const req = http.request(target, {
      method: 'POST', agent,
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.statusCode === 200) lat.push(ms); else errors++;
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
}

async function client() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() < end) await one(agent);
  agent.destroy();
}

(async () => {
  const t0 = Date.now();
  await Promise.all(Array.from({ length: Number(clients) }, client));
  const secs = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
  const r = (x) => Math.round(x * 10) / 10;
  console.log(JSON.stringify({
    clients: Number(clients), seconds: r(secs), requests: lat.length, errors, rps: r(lat.length / secs),
    p50_ms: r(q(0.5)), p90_ms: r(q(0.9)), p99_ms: r(q(0.99)), max_ms: r(lat[lat.length - 1] || 0),
  }));
})();
