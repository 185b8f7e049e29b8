// A webhook receiver that checks every request with the Standard Webhooks
// reference library (npm `standardwebhooks`), as a user of hookd would:
// hookd's signatures are only interoperable if this library accepts them.
//
//   node receiver.js PORT [LABEL=]whsec_... ...
//
// Secrets come from the arguments, or from WEBHOOK_SECRETS (space-separated)
// when none is given. PORT 0 picks a free port; the port in use is printed
// as "listening PORT" once the socket accepts. Every request except
// GET /_results is verified with each secret on its own (a path starting
// /only/LABEL/ uses that secret alone) and recorded; the answer is 200 when
// a secret verified it, else 400, so hookd fails the delivery at once.
// GET /_results answers the records as a JSON list.
'use strict';

const http = require('http');
const { Webhook } = require('standardwebhooks');

// A delivery body is at most hookd's max_body; a cap keeps a runaway client
// from filling memory.
const MAX_BODY = 8 * 1024 * 1024;

function usage(msg) {
  process.stderr.write('receiver.js: ' + msg +
    '\nusage: node receiver.js PORT [LABEL=]whsec_... ...\n');
  process.exit(2);
}

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  usage('bad port ' + JSON.stringify(process.argv[2]));
let args = process.argv.slice(3);
if (args.length === 0 && process.env.WEBHOOK_SECRETS)
  args = process.env.WEBHOOK_SECRETS.split(/\s+/).filter(Boolean);
if (args.length === 0)
  usage('no secret');

// Labels default to s0, s1, ... so records can say which secret verified.
const secrets = args.map((a, i) => {
  const eq = a.indexOf('=');
  const labelled = eq > 0 && !a.startsWith('whsec_');
  return { label: labelled ? a.slice(0, eq) : 's' + i,
           secret: labelled ? a.slice(eq + 1) : a };
});

const results = [];

function verifyWith(secret, method, payload, headers) {
  try {
    // Version 1.1.1 parses a matching payload as JSON unless told not to;
    // a GET delivery's payload is a query string, not JSON.
    new Webhook(secret).verify(payload, headers,
      { jsonParse: method !== 'GET' });
    return null;
  } catch (e) {
    return String(e && e.message || e);
  }
}

function handle(req, body, res) {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  if (req.method === 'GET' && path === '/_results') {
    const out = JSON.stringify(results);
    res.writeHead(200, { 'Content-Type': 'application/json',
                         'Content-Length': Buffer.byteLength(out) });
    res.end(out);
    return;
  }
  // Standard Webhooks: the payload is the body; hookd signs a GET
  // delivery's query string instead (it has no body).
  const payload = req.method === 'GET' ? query : body;
  const m = /^\/only\/([^/]+)(\/|$)/.exec(path);
  const use = m ? secrets.filter((s) => s.label === m[1]) : secrets;
  const by = {};
  let error = use.length ? null : 'no secret labelled ' + (m && m[1]);
  for (const s of use) {
    const err = verifyWith(s.secret, req.method, payload, req.headers);
    by[s.label] = err === null ? true : err;
    if (err !== null && error === null)
      error = err;
  }
  const verified = use.some((s) => by[s.label] === true);
  results.push({ method: req.method, path: path, query: query,
                 verified: verified, error: verified ? null : error,
                 by: by, headers: req.headers,
                 body: body.toString('base64') });
  const out = verified ? '{"ack": true}' : '{"ack": false}';
  res.writeHead(verified ? 200 : 400,
    { 'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(out) });
  res.end(out);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      res.writeHead(413, { Connection: 'close' });
      res.end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (size <= MAX_BODY)
      handle(req, Buffer.concat(chunks), res);
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});

for (const sig of ['SIGTERM', 'SIGINT'])
  process.on(sig, () => server.close(() => process.exit(0)));
