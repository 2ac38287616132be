#!/usr/bin/env python3
"""A Hub on loopback for benchmarks: serves a folder of checkpoints as one repository's branches, throttled.

  bench/hubfake.py ROOT REPO PORT BYTES_PER_SECOND

ROOT holds one folder per branch (ROOT/checkpoint-1000/pytorch_model.bin, config.json, ...). It answers what
headscan's downloader asks, the way the Hugging Face Hub does:
  GET  /api/models/REPO/refs                    the branches, each pinned to a commit made from its name
  HEAD /REPO/resolve/REV/FILE                   302 to the CDN path (X-Repo-Commit, X-Linked-Etag = sha256,
                                                X-Linked-Size) for large files; 200 with the git blob sha1 for small ones
  GET  /REPO/resolve/REV/FILE                   the small files themselves
  GET  /cdn/SHA256                              the bytes, with Range, paced to BYTES_PER_SECOND per transfer
Every transfer is paced on its own; sha256s are computed once at start. Logs one line per request to stderr.
"""
import hashlib, http.server, json, os, socketserver, sys, time

root, repo, port, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
branches, blobs = {}, {}
for rev in sorted(os.listdir(root)):
    d = os.path.join(root, rev)
    if not os.path.isdir(d):
        continue
    commit = hashlib.sha1(rev.encode()).hexdigest()
    files = {}
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        size = os.path.getsize(p)
        if size > 10 << 20 or f.endswith((".bin", ".safetensors")):
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 24), b""):
                    h.update(chunk)
            files[f] = ("lfs", h.hexdigest(), size, p)
            blobs[h.hexdigest()] = p
        else:
            data = open(p, "rb").read()
            files[f] = ("git", hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(), size, p)
    branches[rev] = (commit, files)
by_commit = {c: f for c, f in branches.values()}
print("hubfake: %d branches of %s on port %d at %.0f MB/s" % (len(branches), repo, port, rate / 1e6), file=sys.stderr, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        print("hubfake:", fmt % args, file=sys.stderr, flush=True)

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def resolve(self):
        prefix = "/" + repo + "/resolve/"
        if not self.path.startswith(prefix):
            return None
        rev, _, name = self.path[len(prefix):].partition("/")
        if rev in branches:
            commit, files = branches[rev]
        elif rev in by_commit:
            commit, files = rev, by_commit[rev]
        else:
            self.reply(404, headers=[("X-Error-Code", "RevisionNotFound")])
            return False
        if name not in files:
            self.reply(404, headers=[("X-Error-Code", "EntryNotFound")])
            return False
        return commit, files[name]

    def do_HEAD(self):
        r = self.resolve()
        if r is None:
            return self.reply(404)
        if r is False:
            return
        commit, (kind, etag, size, path) = r
        if kind == "lfs":
            self.reply(302, headers=[("X-Repo-Commit", commit), ("X-Linked-Etag", '"%s"' % etag), ("X-Linked-Size", str(size)),
                                     ("ETag", '"%s"' % etag), ("Location", "http://127.0.0.1:%d/cdn/%s" % (port, etag))])
        else:
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", '"%s"' % etag)
            self.send_header("X-Linked-Size", str(size))
            self.send_header("Content-Length", str(size))
            self.end_headers()

    def do_GET(self):
        if self.path == "/api/models/%s/refs" % repo:
            body = json.dumps({"branches": [{"name": b, "ref": "refs/heads/" + b, "targetCommit": c} for b, (c, _) in branches.items()],
                               "converts": [], "tags": []}).encode()
            return self.reply(200, body, [("Content-Type", "application/json")])
        if self.path.startswith("/cdn/"):
            return self.cdn(self.path[len("/cdn/"):])
        r = self.resolve()
        if r is None:
            return self.reply(404)
        if r is False:
            return
        commit, (kind, etag, size, path) = r
        self.reply(200, open(path, "rb").read(), [("X-Repo-Commit", commit), ("ETag", '"%s"' % etag)])

    def cdn(self, sha):
        path = blobs.get(sha)
        if path is None:
            return self.reply(404)
        size = os.path.getsize(path)
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        t0, sent = time.monotonic(), 0
        with open(path, "rb") as fh:
            fh.seek(start)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                self.wfile.write(chunk)
                sent += len(chunk)
                wait = t0 + sent / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


Server(("127.0.0.1", port), Handler).serve_forever()
