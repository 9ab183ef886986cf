"""Which process is streaming an answer: recorded on the answer, so a crashed process's answer is seen as such."""

from __future__ import annotations

import os
import socket

_owners: dict[int, str] = {}


def process_owner() -> str:
    """This process as `host|pid|start time`, recorded on the answers it streams."""
    pid = os.getpid()
    if pid not in _owners:
        import psutil

        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            started = 0.0
        _owners[pid] = f"{socket.gethostname()}|{pid}|{started:.2f}"
    return _owners[pid]


def owner_alive(owner: str) -> bool:
    """Whether the process that started a streaming answer still runs (a crashed one's answer is interrupted)."""
    import psutil

    host, _, rest = (owner or "").partition("|")
    pid, _, started = rest.partition("|")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" == started
    except psutil.Error:
        return False
