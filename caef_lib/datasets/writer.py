"""Streaming JSONL with a bounded-memory shuffle, dataset cards and the reader.

Every dataset file is JSON Lines, one ``{"prompt": ..., "response": ...}`` per line, byte-identical to
``json.dumps(sample) + "\\n"`` (default separators, ASCII escaping; a test checks it).

Shuffle (the reference shuffles the whole list in RAM): lines are produced in a fixed order (class by
class), and each line goes to one of K temporary shard files chosen by the class's random stream; the
shards are then read one at a time, shuffled in memory with their own seeded stream and written to their
place in the final file (shard sizes are counted in the first pass, so every shard's offset is known and
worker processes can write shards concurrently). Random shard choice followed by a uniform shuffle of
every shard gives a uniformly random permutation; the peak memory is one shard per process. The final
file is assembled in a temporary sibling, checksummed in order, fsynced and renamed (`AssembledFile`, the
same protocol as `caef_lib.io.atomic_open`); small files go through `caef_lib.io.atomic_open` directly.

Shard part files are named by (shard, chunk); chunks are contiguous ranges of classes, so concatenating the
parts of a shard in chunk order gives the same bytes whatever the number of worker processes was.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .. import io

FLUSH_CHARS = 4 << 20  # per chunk and role: buffered characters before the shard parts are appended


def escape(text: str) -> str:
    """JSON string body of a machine text (``\\n``, ``"`` and ``\\\\`` only; equals json.dumps for ASCII
    text without other control characters, which machine texts never contain)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable()


def json_line(prompt: str, response: str) -> str:
    """One JSONL line (with its newline), equal to ``json.dumps({"prompt": p, "response": r}) + "\\n"``."""
    p = escape(prompt) if _plain(prompt.replace("\n", "")) else json.dumps(prompt)[1:-1]
    r = escape(response) if _plain(response.replace("\n", "")) else json.dumps(response)[1:-1]
    return f'{{"prompt": "{p}", "response": "{r}"}}\n'


def fast_line(prompt: str, response: str) -> str:
    """`json_line` for machine texts, skipping the character check (callers guarantee the alphabet)."""
    return ('{"prompt": "' + prompt.replace("\n", "\\n") + '", "response": "'
            + response.replace("\n", "\\n") + '"}\n')


PROMPT_PREFIX = '{"prompt": "'  # every line starts with it: a stage-1 line inserts the preamble right after


# ----------------------------------------------------------------------------------- shards
class ShardSink:
    """Collects the lines of one (file, chunk) and appends them to K shard part files."""

    def __init__(self, folder: Path, chunk: int, shards: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk = chunk
        self.shards = shards
        self.buffers: list[list[str]] = [[] for _ in range(shards)]
        self.sizes = [0] * shards    # bytes per shard (for the final offsets)
        self.counts = [0] * shards   # lines per shard
        self.pending = 0

    def add(self, line: str, u: float) -> None:
        """Add a line; ``u`` in [0, 1) picks its shard (a draw from the class's random stream)."""
        k = int(u * self.shards)
        self.buffers[k].append(line)
        n = len(line)
        self.sizes[k] += n
        self.counts[k] += 1
        self.pending += n
        if self.pending >= FLUSH_CHARS:
            self.flush()

    def add_many(self, lines: list[str], rnd) -> None:
        """Add lines, each to the shard picked by one ``rnd()`` draw in [0, 1)."""
        buffers, sizes, counts, shards = self.buffers, self.sizes, self.counts, self.shards
        for line in lines:
            k = int(rnd() * shards)
            buffers[k].append(line)
            n = len(line)
            sizes[k] += n
            counts[k] += 1
            self.pending += n
        if self.pending >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        for k, buf in enumerate(self.buffers):
            if buf:
                with open(part_path(self.folder, k, self.chunk), "ab") as f:
                    f.write("".join(buf).encode("ascii"))
                buf.clear()
        self.pending = 0

    close = flush


def part_path(folder: Path, shard: int, chunk: int) -> Path:
    return Path(folder) / f"s{shard:04d}.c{chunk:05d}"


def shuffle_shard_into(folder: str, shard: int, chunks: int, seed_key: str, target: str, offset: int,
                       preamble: str | None = None, target1: str | None = None, offset1: int = 0) -> int:
    """Read shard ``shard`` (its parts in chunk order), shuffle its lines with the stream ``seed_key`` and write
    them into the (pre-sized) file ``target`` at ``offset``; with ``preamble``, also write the stage-1 version of
    the same lines into ``target1`` at ``offset1``. Runs in a worker process; returns the number of lines."""
    data = bytearray()
    for c in range(chunks):
        p = part_path(Path(folder), shard, c)
        if p.exists():
            data += p.read_bytes()
            p.unlink()
    lines = bytes(data).splitlines(keepends=True)
    del data
    random.Random(seed_key).shuffle(lines)
    _pwrite_all(target, b"".join(lines), offset)
    if preamble is not None and target1 is not None:
        prefix = PROMPT_PREFIX.encode()
        pre = prefix + escape(preamble).encode("ascii")
        n = len(prefix)
        _pwrite_all(target1, b"".join([pre + line[n:] for line in lines]), offset1)
    return len(lines)


def _pwrite_all(path: str, data: bytes, offset: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            n = os.pwrite(fd, view, offset)
            view = view[n:]
            offset += n
    finally:
        os.close(fd)


class AssembledFile:
    """A file assembled from pieces written at known offsets (by worker processes), then checksummed in order
    and moved into place atomically: the same temporary-sibling + fsync + rename as `caef_lib.io.atomic_open`,
    but the temporary path is shared with the workers."""

    def __init__(self, path: Path, size: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        io.give_default_mode(fd)
        os.ftruncate(fd, size)
        os.close(fd)
        self.size = size
        self.sha = hashlib.sha256()
        self._fd = os.open(self.tmp, os.O_RDONLY)
        self.done = 0
        self.lines = 0

    def hash_upto(self, end: int, lines: int = 0) -> None:
        """Checksum the bytes up to ``end`` (all pieces before it are written). pread, unbuffered: nothing
        past ``end`` (possibly not written yet) may be read."""
        while self.done < end:
            block = os.pread(self._fd, min(8 << 20, end - self.done), self.done)
            if not block:
                raise IOError(f"{self.tmp}: short read at {self.done} of {end}")
            self.sha.update(block)
            self.done += len(block)
        self.lines += lines

    def close(self) -> dict:
        self.hash_upto(self.size)
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
        os.replace(self.tmp, self.path)
        return {"lines": self.lines, "bytes": self.size, "sha256": self.sha.hexdigest()}

    def abort(self) -> None:
        try:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


class HashingWriter:
    """Atomic file writer that counts bytes and lines and computes the SHA-256 on the way."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cm = io.atomic_open(self.path, "wb")
        self._f = self._cm.__enter__()
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.lines = 0

    def write(self, data: bytes, lines: int | None = None) -> None:
        self._f.write(data)
        self.sha.update(data)
        self.bytes += len(data)
        self.lines += data.count(b"\n") if lines is None else lines

    def close(self) -> dict:
        self._cm.__exit__(None, None, None)
        return {"lines": self.lines, "bytes": self.bytes, "sha256": self.sha.hexdigest()}

    def abort(self, exc: BaseException) -> None:
        try:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass


def write_lines(path: Path, lines: list[str]) -> dict:
    """Write a small file (already in its final order)."""
    w = HashingWriter(path)
    try:
        w.write("".join(lines).encode("ascii"), len(lines))
    except BaseException as e:
        w.abort(e)
        raise
    return w.close()


# ----------------------------------------------------------------------------------- reading
def read_samples(path: str | os.PathLike, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Samples of a dataset file, in file order: dicts with ``prompt`` and ``response`` (streamed).
    ``limit`` None or 0 = all. A missing file or a line that is not JSON is a clear error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist; run notebook 01 first")
    with open(path, encoding="utf-8") as f:
        n = 0
        for number, line in enumerate(f, 1):
            if limit and n >= limit:
                return
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not JSON ({e})") from None
            n += 1


def count_lines(path: str | os.PathLike) -> int:
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
    return n
