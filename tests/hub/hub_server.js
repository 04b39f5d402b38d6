// hub_server.js: a local stand-in for the Hugging Face hub, for tests only.
// Serves model directories the way the hub does:
//   GET  /api/models/<org>/<name>/revision/main -> {"sha", "siblings": [{"rfilename"}]}
//   HEAD/GET /<org>/<name>/resolve/<rev>/<file> with X-Repo-Commit, ETag
//   (sha256 in X-Linked-Etag and X-Linked-Size for *.safetensors, as for LFS
//   files), and Range resumes (206).
// usage: node hub_server.js <portfile> <logfile> <repo=dir>... [--private=<repo>]
//        [--truncate-once=<file>] [--corrupt=<file>]
// Binds 127.0.0.1 on an ephemeral port written to <portfile>.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const [portfile, logfile, ...rest] = process.argv.slice(2);
const repos = {};
let privateRepo = null, truncateOnce = null, corrupt = null;
for (const a of rest) {
  if (a.startsWith('--private=')) privateRepo = a.slice(10);
  else if (a.startsWith('--truncate-once=')) truncateOnce = a.slice(16);
  else if (a.startsWith('--corrupt=')) corrupt = a.slice(10);
  else { const i = a.indexOf('='); repos[a.slice(0, i)] = a.slice(i + 1); }
}
const log = (s) => fs.appendFileSync(logfile, s + '\n');
const sha = (buf, alg) => crypto.createHash(alg).update(buf).digest('hex');
const commitOf = (repo) => sha(Buffer.from(repo), 'sha1');

function authorized(req, repo) {
  if (repo !== privateRepo) return true;
  return req.headers['authorization'] === 'Bearer secret-token';
}

const server = http.createServer((req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0]);
  log(`${req.method} ${url} range=${req.headers['range'] || ''}`);
  let m = url.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/main$/);
  if (m) {
    const repo = m[1];
    if (!repos[repo] || !authorized(req, repo)) { res.writeHead(repos[repo] ? 401 : 404); return res.end('{"error":"Repository not found"}'); }
    const files = fs.readdirSync(repos[repo]).filter((f) => fs.statSync(path.join(repos[repo], f)).isFile());
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ id: repo, sha: commitOf(repo), siblings: files.map((f) => ({ rfilename: f })) }));
  }
  m = url.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
  if (!m || !repos[m[1]]) { res.writeHead(404); return res.end('Entry not found'); }
  const [, repo, , file] = m;
  if (!authorized(req, repo)) { res.writeHead(401); return res.end('unauthorized'); }
  const fp = path.join(repos[repo], file);
  if (file.includes('..') || !fs.existsSync(fp)) { res.writeHead(404); return res.end('Entry not found'); }
  let body = fs.readFileSync(fp);
  const lfs = file.endsWith('.safetensors');
  const headers = { 'X-Repo-Commit': commitOf(repo), 'Accept-Ranges': 'bytes' };
  if (lfs) {
    headers['X-Linked-Etag'] = `"${sha(body, 'sha256')}"`;
    headers['X-Linked-Size'] = String(body.length);
    headers['ETag'] = `"${sha(body, 'sha256')}"`;
  } else {
    headers['ETag'] = `"${sha(body, 'sha1')}"`;
  }
  if (req.method === 'HEAD') {
    headers['Content-Length'] = body.length;
    res.writeHead(200, headers);
    return res.end();
  }
  if (corrupt === file) { body = Buffer.from(body); body[body.length >> 1] ^= 0xff; }
  let start = 0;
  const range = req.headers['range'];
  if (range) { const r = range.match(/bytes=(\d+)-/); if (r) start = Number(r[1]); }
  const part = body.subarray(start);
  headers['Content-Length'] = part.length;
  res.writeHead(start ? 206 : 200, headers);
  if (truncateOnce === file) {
    truncateOnce = null;
    res.write(part.subarray(0, part.length >> 1));
    return setTimeout(() => req.socket.destroy(), 50);
  }
  res.end(part);
});
server.listen(0, '127.0.0.1', () => fs.writeFileSync(portfile, String(server.address().port)));
// never outlive the test
setTimeout(() => process.exit(0), 120000).unref();
