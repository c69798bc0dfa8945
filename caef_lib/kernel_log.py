"""Keeps one startup warning of the Jupyter kernel off the user's terminal.

Each notebook runs in an ipykernel subprocess that inherits the runner's stderr. On start, ipykernel 7
(`IPKernelApp.init_sockets`) logs through its traitlets application logger

    [IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...

whenever jupyter_client did not provision CurveZMQ keys, which is the default. The kernel listens on
localhost only and messages are signed with the session key, so the warning tells a study-kit user nothing
they can act on. It is emitted in the kernel process, so a filter in the runner cannot see it: `KERNEL_ARGS`
are command-line options for the kernel that add `DropUnencryptedTcpWarning` to the kernel's console log
handler (traitlets merges `logging_config` into its default logging setup; traitlets 5 still reads a dict
written as a literal on the command line, with a DeprecationWarning the kernel does not show, and
tests/test_runner.py checks that it does). Every other kernel message still reaches stderr.
"""
from __future__ import annotations

import json
import logging
import os
import sys

MESSAGE = "Kernel is running over TCP without encryption"


class DropUnencryptedTcpWarning(logging.Filter):
    """Drops exactly the kernel's unencrypted-TCP warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and record.getMessage().startswith(MESSAGE))


LOGGING_CONFIG = {
    "filters": {"drop_tcp_warning": {"()": f"{__name__}.DropUnencryptedTcpWarning"}},
    "handlers": {"console": {"filters": ["drop_tcp_warning"]}},
}
# For nbclient's `extra_arguments` (appended to the kernel's command line).
KERNEL_ARGS = [f"--IPKernelApp.logging_config={json.dumps(LOGGING_CONFIG)}"]


def kernel_args(kernel_name: str) -> list[str]:
    """`KERNEL_ARGS` when the kernel runs in this Python environment, else none: a kernel of another
    environment may not be able to import the filter, and would then die at start-up."""
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        interpreter = KernelSpecManager().get_kernel_spec(kernel_name).argv[0]
    except Exception:  # unknown kernel: papermill reports it
        return []
    same_env = os.path.dirname(os.path.abspath(interpreter)) == os.path.dirname(os.path.abspath(sys.executable))
    return KERNEL_ARGS if same_env else []
