// A webhook receiver that verifies hookd's signatures (Standard Webhooks),
// Node built-ins only. Run: HOOKD_SECRET=whsec_... node receiver.js 9000
// Several secrets, space-separated, are all tried (during a rotation).
const crypto = require('node:crypto');
const http = require('node:http');

// payload: a Buffer or string (POST: the raw body, GET: the query string as
// received, without '?'). True when any v1 signature matches a secret.
function verify(secrets, headers, payload, toleranceSec = 300) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  if (!id || !/^[0-9]+$/.test(ts || '')) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceSec) return false;
  const sigs = (headers['webhook-signature'] || '').split(' ');
  return secrets.some((secret) => {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    const mac = crypto.createHmac('sha256', key);
    mac.update(`${id}.${ts}.`);
    mac.update(payload);
    const want = Buffer.from('v1,' + mac.digest('base64'));
    // timingSafeEqual: constant time (it needs equal lengths).
    return sigs.some((s) => {
      const got = Buffer.from(s);
      return got.length === want.length && crypto.timingSafeEqual(got, want);
    });
  });
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const q = req.url.indexOf('?');  // req.url is the target as received
    const payload = req.method === 'GET' ? (q < 0 ? '' : req.url.slice(q + 1))
                                         : Buffer.concat(chunks);
    const secrets = process.env.HOOKD_SECRET.split(' ');
    if (!verify(secrets, req.headers, payload)) {
      console.log('rejected', req.headers['webhook-id']);
      return res.writeHead(401).end();  // hookd retries: fix a wrong secret
    }
    // Deduplicate on webhook-id (delivery is at least once), then handle it.
    console.log('verified', req.headers['webhook-id']);
    res.writeHead(200, { 'Content-Type': 'application/json' })
       .end('{"ack": true}');  // hookd keeps a JSON object answer as the ack
  });
}).listen(Number(process.argv[2] || 9000), '127.0.0.1',
  () => console.log('listening on', Number(process.argv[2] || 9000)));
