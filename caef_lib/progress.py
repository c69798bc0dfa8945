"""What the runner shows while a notebook runs: the cell it is in and the notebook's latest progress line.

    [02_training] cell 7/14: results = []
    [02_training] cell 7/14 | 42%|████▏     | 420/1000 [01:10<01:37, 5.95it/s]

`Progress` is fed three events (notebook started with N code cells, a cell started with this source, the cell
wrote this text) and decides what to print. On a terminal it keeps one status line up to date in place; in a
log file or CI it prints one line per cell and the latest progress line at most every `interval` seconds, so
a half-hour notebook neither looks hung nor floods the log with tqdm updates.

`papermill_hooks` connects it to papermill: nbclient calls `on_notebook_start` / `on_cell_execute` (papermill
passes unknown keyword arguments of `execute_notebook` on to nbclient), and papermill writes every stdout /
stderr stream output of the cells to `stdout_file` / `stderr_file`, which is the `Progress` itself.
"""
from __future__ import annotations

import math
import re
import shutil
import time
from typing import Callable, TextIO

SOURCE_CHARS = 60  # of a cell's first line in plain mode
CLEAR_LINE = "\r\x1b[K"  # carriage return + erase to the end of the line
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")  # ANSI sequences, control chars


def first_line(source: str, limit: int = SOURCE_CHARS) -> str:
    """The first non-empty line of a cell, shortened to `limit` characters."""
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."


def last_segment(text: str) -> str:
    """The last non-empty line of some output; tqdm redraws its bar after a '\\r', so that counts as a line end."""
    for segment in reversed(re.split(r"[\r\n]", text)):
        segment = _CONTROL.sub("", segment).strip()
        if segment:
            return segment
    return ""


class Progress:
    """Shows the state of one running notebook.

    stream: a terminal to keep one status line on (None: print plain lines with `echo`).
    interval: plain mode prints the latest progress line at most this often (seconds).
    clock, columns: injectable for tests (time source; terminal width).
    """

    def __init__(self, name: str, *, echo: Callable[[str], None] = print, stream: TextIO | None = None,
                 interval: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns):
        self.name, self.echo, self.stream = name, echo, stream
        self.interval, self.clock, self.columns = interval, clock, columns
        self.total = 0        # code cells that will run (0 = not known yet)
        self.cell = 0         # 1-based number of the running code cell
        self.source = ""      # its first line
        self.latest = ""      # the last line it printed
        self._printed_at = -math.inf
        self._drawn = False

    # ---------------------------------------------------------------- events
    def notebook_started(self, code_cells: int) -> None:
        self.total, self.cell = code_cells, 0

    def cell_started(self, source: str) -> None:
        self.cell += 1
        self.source, self.latest = first_line(source), ""
        if self.stream is None:
            self.echo(f"[{self.name}] cell {self._position()}: {self.source}")
        else:
            self._draw()

    def output(self, text: str) -> None:
        line = last_segment(text)
        if not line:
            return
        self.latest = line
        if self.stream is not None:
            self._draw()
        elif self.clock() - self._printed_at >= self.interval:
            self._printed_at = self.clock()
            self.echo(f"[{self.name}] cell {self._position()} | {line}")

    def close(self) -> None:
        """Erase the status line so that what is printed next starts on a clean line."""
        if self.stream is not None and self._drawn:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._drawn = False

    # papermill writes the cells' stream outputs to a file-like object: this one.
    def write(self, text: str) -> None:
        self.output(text)

    def flush(self) -> None:
        pass

    # ---------------------------------------------------------------- helpers
    def _position(self) -> str:
        return f"{self.cell}/{self.total}" if self.total else str(self.cell)

    def status_line(self) -> str:
        """The terminal status line, without truncation."""
        line = f"[{self.name}] cell {self._position()}: {self.source}"
        return f"{line} | {self.latest}" if self.latest else line

    def _draw(self) -> None:
        width = max(self.columns() - 1, 10)  # the last column would wrap on some terminals
        self.stream.write(CLEAR_LINE + self.status_line()[:width])
        self.stream.flush()
        self._drawn = True


def code_cells(nb) -> int:
    """Code cells nbclient will execute (it skips empty ones)."""
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


def papermill_hooks(progress: Progress) -> dict:
    """Keyword arguments for `papermill.execute_notebook` that feed `progress`."""
    return {
        "on_notebook_start": lambda notebook, **_: progress.notebook_started(code_cells(notebook)),
        "on_cell_execute": lambda cell, **_: progress.cell_started(cell.source),
        "stdout_file": progress,
        "stderr_file": progress,
    }
