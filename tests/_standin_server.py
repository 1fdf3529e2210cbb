"""A tiny real HTTP server standing in for vLLM at the process boundary of the shared-server
registry (tests/test_shared_servers.py), and a process that acquires a shared server.

  python tests/_standin_server.py serve PORT NAME ROOT [DELAY]   answer /v1/models like vLLM
  python tests/_standin_server.py acquire ENTRY_DIR PORT NAME ROOT [DELAY]
      acquire the entry's shared server (starting the stand-in under a supervisor if needed),
      print it as one JSON line, then hold the lease until stdin closes
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(port: int, name: str, root: str, delay: float = 0.0) -> None:
    time.sleep(delay)  # a slow start, so that concurrent starters overlap
    if name == "fails-to-start":
        print(f"no model at {root}", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/v1/models": {"data": [{"id": name, "root": root}]}, "/version": {"version": "stand-in"}}.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

        def log_message(self, *_):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def launch(entry_dir: Path, port: int, name: str, root: str, delay: float = 0.0) -> dict:
    return {"argv": [sys.executable, __file__, "serve", str(port), name, root, str(delay)], "env": {},
            "log": str(entry_dir / "server.log"), "port": port, "url": f"http://127.0.0.1:{port}/v1",
            "served_name": name, "model": root}


async def acquire_standin(entry_dir: Path, port: int, name: str, root: str, delay: float = 0.0, progress=lambda _: None):
    from concilium.stack.shared import acquire, answers

    spec = launch(entry_dir, port, name, root, delay)

    async def start(supervisor):
        supervisor.start()

        async def probe():
            return await asyncio.to_thread(answers, spec["url"], name, root, 1.0)
        await supervisor.wait_ready(probe, timeout=60, progress=progress, what="stand-in")

    return await acquire(entry_dir, spec, progress, start)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
    else:
        entry, port, name, root = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
        s = asyncio.run(acquire_standin(entry, port, name, root, float(sys.argv[6]) if len(sys.argv) > 6 else 0.0))
        print(json.dumps({"url": s.url, "reused": s.reused, "lease": str(s.lease)}), flush=True)
        sys.stdin.read()
        s.stop()
