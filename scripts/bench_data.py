"""Benchmark of the data side: synthetic generation time and Dataset read throughput.

Target: 2,000 images at 64x64 generated in under 30 s on 2 cores. Prints readable lines.
Usage: python scripts/bench_data.py [--n 1600] [--n-val 400] [--size 64] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1600)
    parser.add_argument("--n-val", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", default=None, help="write the dataset here and keep it (default: temporary folder)")
    args = parser.parse_args()

    from treemtl.training.data.synthetic import SynthSpec, generate_image, write_dataset

    start = time.perf_counter()
    for i in range(20):
        generate_image(0, "train", i, args.size)
    per_image = (time.perf_counter() - start) / 20
    print(f"render one {args.size}x{args.size} image (1 process): {per_image * 1000:.1f} ms")

    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        total = args.n + args.n_val
        start = time.perf_counter()
        cpu_start = _cpu_seconds()
        write_dataset(out, SynthSpec(n_train=args.n, n_val=args.n_val, size=args.size), workers=args.workers, contact_sheet=False)
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
        verdict = "OK" if elapsed < 30.0 or total != 2000 else "SLOW"
        print(f"generate {total} images at {args.size}x{args.size} with {args.workers} workers: {elapsed:.1f} s ({total / elapsed:.0f} images/s) [target < 30 s: {verdict}]")
        # On a shared machine wall time includes waiting for other jobs; CPU time does not.
        print(f"  CPU time (this process + workers): {cpu:.1f} s, i.e. about {cpu / args.workers:.1f} s wall on {args.workers} idle cores")
        size_mb = sum(p.stat().st_size for p in out.glob("*.npz")) / 2**20
        print(f"on disk: {size_mb:.1f} MiB in {len(list(out.glob('*.npz')))} shards")

        import torch
        from torch.utils.data import DataLoader

        from treemtl.training.data.synthetic import SyntheticDataset

        torch.set_num_threads(1)
        start = time.perf_counter()
        dataset = SyntheticDataset(out, "train")
        print(f"load train split into memory ({len(dataset)} images, all tasks): {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        elapsed = time.perf_counter() - start
        print(f"Dataset[i] item access: {len(dataset) / elapsed:.0f} items/s")
        loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=0)
        start = time.perf_counter()
        seen = 0
        for batch in loader:
            seen += int(batch["image"].shape[0])
        elapsed = time.perf_counter() - start
        print(f"DataLoader(batch_size=32, workers=0): {seen / elapsed:.0f} images/s ({len(loader) / elapsed:.0f} batches/s)")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
