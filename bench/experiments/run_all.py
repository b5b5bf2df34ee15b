"""Runs the four CPU-scale experiments one after another, each in its own process.

    python bench/experiments/run_all.py [--only table6 table2] [-- extra arguments]

Every script writes `table.md`, `plot.png` and `samples.png` under
`bench/experiments/results/<table>/`; this prints each one's minutes. Extra
arguments after `--` go to every script (e.g. `-- --num-videos 16`).
"""

import argparse
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = {
    "table6": "table6_extension.py",
    "table2": "table2_prediction.py",
    "table5": "table5_guidance.py",
    "table4": "table4_joint_training.py",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SCRIPTS), default=list(SCRIPTS))
    parser.add_argument("extra", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    failed = []
    for name in args.only:
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / SCRIPTS[name])] + extra)
        print(f"{name}: {(time.perf_counter() - start) / 60:.1f} min, exit code {code}", flush=True)
        if code:
            failed.append(name)
    if failed:
        raise SystemExit(f"Failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
