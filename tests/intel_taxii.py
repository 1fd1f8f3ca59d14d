"""A real TAXII 2.1 server for tests: medallion with its memory backend, on loopback.

Started as a subprocess on a free port, ready when its discovery endpoint answers, killed at
teardown. One API root (``api1``) with a writable collection ``distillation``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import orjson

USER: Final = "partner"
PASSWORD: Final = "test-password-not-secret"
COLLECTION_ID: Final = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
COLLECTION: Final = "distillation"
MEDIA: Final = "application/taxii+json;version=2.1"


@dataclass(frozen=True)
class Taxii:
    discovery: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(folder: Path, port: int) -> Path:
    base = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {
            "title": "distillguard test server",
            "default": f"{base}/api1/",
            "api_roots": [f"{base}/api1/"],
        },
        "api1": {
            "information": {
                "title": "sharing group",
                "versions": [MEDIA],
                "max_content_length": 64 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION_ID,
                    "title": COLLECTION,
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    state = folder / "state.json"
    state.write_bytes(orjson.dumps(data))
    config = folder / "config.json"
    config.write_bytes(
        orjson.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(state),
                },
                "users": {USER: PASSWORD},
                "taxii": {"max_page_size": 100},
            }
        )
    )
    return config


@contextmanager
def taxii_server(folder: Path, *, timeout_s: float = 30.0) -> Iterator[Taxii]:
    port = _free_port()
    config = _config(folder, port)
    medallion = Path(sys.executable).parent / "medallion"
    log = (folder / "medallion.log").open("wb")
    process = subprocess.Popen(
        [str(medallion), "--host", "127.0.0.1", "--port", str(port), str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    discovery = f"http://127.0.0.1:{port}/taxii2/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"medallion exited: {(folder / 'medallion.log').read_text()}")
            try:
                answer = httpx.get(
                    discovery, auth=(USER, PASSWORD), headers={"Accept": MEDIA}, timeout=1.0
                )
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("medallion did not answer in time")
            time.sleep(0.1)
        yield Taxii(discovery, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
