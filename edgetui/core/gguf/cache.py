"""HeaderCache: parsed GGUF headers (or why they failed) kept in a JSON file, so rescans are cheap."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgetui.core.gguf.read import GGUFError, GGUFHeader, read_header

CACHE_VERSION = 1  # bump when GGUFHeader or the reader changes what it records


class HeaderCache:
    """Parsed headers (or their errors) keyed by (realpath, size, mtime_ns), kept in a JSON file."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self.records: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.dirty = False
        if file is not None:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                if data.get("version") == CACHE_VERSION and isinstance(data.get("files"), dict):
                    self.records = data["files"]
            except (OSError, ValueError, AttributeError):
                pass

    def read(self, path: Path) -> GGUFHeader:
        """read_header(path), from the cache when the file has not changed; raises GGUFError."""
        try:
            real = os.path.realpath(path)
            st = os.stat(real)
        except (OSError, ValueError):
            return read_header(path)  # raises the GGUFError that explains it
        rec = self.records.get(real)
        self.seen.add(real)
        if rec and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
            if rec.get("error"):
                raise GGUFError(rec["error"])
            try:
                return GGUFHeader.from_dict(rec["header"])
            except (KeyError, TypeError):
                pass
        rec = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        try:
            header = read_header(path)
            rec["header"] = header.to_dict()
            return header
        except GGUFError as exc:
            if "permission" not in str(exc):  # errors that a chmod can fix are not remembered
                rec["error"] = str(exc)
            raise
        finally:
            if "header" in rec or "error" in rec:
                self.records[real] = rec
                self.dirty = True

    def save(self) -> None:
        """Write the cache (atomically) if it changed; records of files that are gone are dropped."""
        for real in [r for r in self.records if r not in self.seen]:
            if not os.path.exists(real):
                del self.records[real]
                self.dirty = True
        if self.file is None or not self.dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "files": self.records}), encoding="utf-8")
            tmp.replace(self.file)
            self.dirty = False
        except OSError:
            pass
