"""`bench data fetch`: files served from a local HTTP server on 127.0.0.1 (good, corrupted,
truncated, stalled); a failed fetch leaves nothing at the destination."""
from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmark.corpora.fetch import fetch_corpus
from benchmark.corpora.registry import CONLL_LAYOUT, CorpusEntry, Source
from benchmark.errors import ConfigError

FILES = {"train.txt": b"IMGID:1\nAlice\tB-PER\n\n", "dev.txt": b"IMGID:2\nParis\tB-LOC\n\n",
         "test.txt": b"IMGID:3\nACME\tB-ORG\n\n"}


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; ``server.truncate`` names a file whose body stops half-way."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.lstrip("/") == self.server.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.truncate = dict(FILES), [], None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _entry() -> CorpusEntry:
    return CorpusEntry(name="tiny", display="Tiny", languages=("en",), layout=CONLL_LAYOUT,
                       source=Source(base_url="http://unused.invalid/{revision}", revision="r1",
                                     files={k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()}))


def _url(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_fetch_checks_and_places_every_file_then_is_a_no_op(server, tmp_path):
    root = tmp_path / "data"
    report = fetch_corpus(_entry(), root, base_url=_url(server), timeout=5)
    assert sorted(report.downloaded) == sorted(FILES) and report.present == ()
    assert {p.name: p.read_bytes() for p in root.iterdir()} == FILES  # no staging folder left
    asked = len(server.requests)
    again = fetch_corpus(_entry(), root, base_url=_url(server), timeout=5)
    assert again.downloaded == () and sorted(again.present) == sorted(FILES) and len(server.requests) == asked
    (root / "dev.txt").write_bytes(b"edited by hand\n")  # a damaged local copy is fetched again
    assert fetch_corpus(_entry(), root, base_url=_url(server), timeout=5).downloaded == ("dev.txt",)
    assert (root / "dev.txt").read_bytes() == FILES["dev.txt"]


def test_a_corrupted_file_leaves_nothing_behind(server, tmp_path):
    server.files["test.txt"] = b"IMGID:3\nACME\tB-PER\n\n"
    root = tmp_path / "data"
    with pytest.raises(ConfigError, match=r"test.txt: SHA-256 [0-9a-f]{64} does not match the pinned"):
        fetch_corpus(_entry(), root, base_url=_url(server), timeout=5)
    assert not root.exists()


def test_a_truncated_transfer_leaves_nothing_behind(server, tmp_path):
    server.truncate = "dev.txt"
    root = tmp_path / "data"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"dev.txt: (truncated transfer|transfer failed)"):
        fetch_corpus(_entry(), root, base_url=_url(server), timeout=5)
    assert [p.name for p in root.iterdir()] == ["keep.txt"]


def test_a_server_that_stops_answering_times_out_cleanly(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections, never answers
    try:
        root = tmp_path / "data"
        with pytest.raises(ConfigError, match="transfer failed"):
            fetch_corpus(_entry(), root, base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        assert not root.exists()
    finally:
        listener.close()


def _bench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_bench_data_fetch_mmnerd_from_a_mirror_of_the_public_files(server, tmp_path):
    """The registered MMNERD checksums are those of the public English files (served here from the
    local copy); a corpus without a public source is one line, exit 2."""
    src = Path(os.environ.get("MMNERD_DIR", "")) / "train_valid_test_en"
    if not os.environ.get("MMNERD_DIR") or not src.is_dir():
        pytest.skip("MMNERD_DIR with the public English files is not set")
    server.files = {f"train_valid_test/train_valid_test_en/{p.name}": p.read_bytes() for p in src.glob("*.txt")}
    env = {**os.environ, "MMNER_BENCH_CACHE": str(tmp_path / "cache")}
    dest = tmp_path / "mmnerd"
    out = _bench("data", "fetch", "mmnerd", "--dest", str(dest), "--base-url", _url(server), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(SHA-256 checked)") == 3 and f"Next: MMNERD_DIR={dest} bench run" in out.stdout
    again = _bench("data", "fetch", "mmnerd", "--dest", str(dest), "--base-url", _url(server), env=env)
    assert again.returncode == 0 and "already at" in again.stdout and "nothing to download" in again.stdout
    none = _bench("data", "fetch", "twitter2017", env=env)
    assert none.returncode == 2 and none.stderr.strip().splitlines() == [
        "bench: corpus twitter2017: no public source is registered (its files are shared by their authors; "
        "put them under --data-dir)"]
