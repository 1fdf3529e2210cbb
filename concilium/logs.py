"""Structured logs: one JSON object per line on stderr, WARNING and above unless asked for more.
Fields passed with `extra={...}` become keys. Nothing here ever receives a key: wallets do not
render one, and errors are built from messages, not from transaction dicts."""

from __future__ import annotations

import json
import logging
import sys
import time

_STD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(time.time(), 3), "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")})
        if record.exc_info and record.levelno >= logging.ERROR:
            out["exc"] = f"{type(record.exc_info[1]).__name__}: {str(record.exc_info[1])[:300]}"
        return json.dumps(out, default=str)


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("concilium").setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("httpx", "openai", "web3", "urllib3", "aiosqlite", "chromadb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # a run skipped because the agent is still stepping is the coalescing we asked for
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
