"""Benchmark edgetui's GGUF header reader against gguf.GGUFReader, and the catalog's cached re-scan.

What "cold" means here: dropping the OS page cache needs root tricks, so every timing below is a first read
in a fresh Python process (a new interpreter, nothing parsed or imported beforehand except the reader's
module), with the file's pages possibly in the page cache. "warm" is the median of repeated reads in one
process. The catalog figures are a first scan of N new small files (every header parsed) and a re-scan of the
same, unchanged files by a new Catalog (headers from the JSON cache, one stat per file).

    .venv/bin/python bench/bench_gguf_reader.py [--runs 5] [--ref-runs 2] [--files 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ONE_READ = {
    "edgetui": "from edgetui.core.gguf.read import read_header as read\n",
    "gguf.GGUFReader": "from gguf import GGUFReader as read\n",
}
TIMER = "import sys, time\nt = time.perf_counter()\nread(sys.argv[1])\nprint(time.perf_counter() - t)\n"


def cold(reader: str, path: Path, runs: int) -> float:
    """Median seconds of one read in a fresh process (imports excluded)."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", ONE_READ[reader] + TIMER, str(path)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def warm(reader: str, path: Path, runs: int) -> float:
    if reader == "edgetui":
        from edgetui.core.gguf.read import read_header as read
    else:
        from gguf import GGUFReader as read
    read(path)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        read(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def big_vocab_file(directory: Path, n_vocab: int = 262_144) -> Path:
    """A Gemma-3-sized vocabulary (262,144 tokens with scores and types) and tiny tensors."""
    import gguf
    import numpy as np

    path = directory / "big-vocab.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("Big Vocab")
    w.add_block_count(1)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"token{i}".encode() for i in range(n_vocab)])
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([1] * n_vocab)
    w.add_tensor("token_embd.weight", np.zeros((4, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def small_file(path: Path) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Tiny")
    w.add_block_count(1)
    w.add_token_list([f"t{i}".encode() for i in range(256)])
    w.add_tensor("blk.0.w", np.zeros((8, 32), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def bench_rescan(directory: Path, n_files: int) -> tuple[float, float]:
    from edgetui.config import Config
    from edgetui.core.models.catalog import Catalog
    from edgetui.paths import Paths

    models = directory / "many"
    models.mkdir()
    small_file(models / "m00000.gguf")
    for i in range(1, n_files):
        shutil.copyfile(models / "m00000.gguf", models / f"m{i:05d}.gguf")
    home = directory / "home"
    paths = Paths(data_dir=home, config_dir=home, cache_dir=home / "cache").ensure()
    config = Config(model_dirs=(str(models),), scan_hf_cache=False, scan_ollama=False, scan_lmstudio=False)
    t = time.perf_counter()
    first = Catalog(paths, config, include_default=False).scan()
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    again = Catalog(paths, config, include_default=False).scan()
    t_again = time.perf_counter() - t
    assert len(first) == len(again) == n_files and all(e.ok for e in again)
    return t_first, t_again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement (median)")
    parser.add_argument("--ref-runs", type=int, default=2, help="the same for gguf.GGUFReader (it is slow)")
    parser.add_argument("--files", type=int, default=1000, help="files for the re-scan benchmark")
    args = parser.parse_args()
    from edgetui.core.models.default import default_model_path

    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        tmpdir = Path(tmp)
        files = {}
        default = default_model_path()
        if default is not None:
            files["default model (SmolLM2-135M, 49k vocab)"] = default
        files["synthetic 262k-token vocab"] = big_vocab_file(tmpdir)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}; medians of "
              f"{args.runs} runs ({args.ref_runs} for gguf.GGUFReader)\n")  # fmt: skip
        print(f"{'file':42}{'reader':18}{'cold ms':>10}{'warm ms':>10}")
        for label, path in files.items():
            ours = cold("edgetui", path, args.runs)
            theirs = cold("gguf.GGUFReader", path, args.ref_runs)
            for reader, t, runs in (("edgetui", ours, args.runs), ("gguf.GGUFReader", theirs, args.ref_runs)):
                print(f"{label:42}{reader:18}{t * 1000:>10.1f}{warm(reader, path, runs) * 1000:>10.1f}")
            print(f"{'':42}{'ratio (gguf/ours)':18}{theirs / ours:>10.1f}x\n")
        t_first, t_again = bench_rescan(tmpdir, args.files)
        print(f"catalog: first scan of {args.files} new files {t_first * 1000:.0f} ms, "
              f"re-scan of the unchanged files (cache) {t_again * 1000:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
