"""Wall time of whole `em-bayes compare` commands, as a user runs them: imports, EM, MAP, NUTS, tables.

Run: ``python benchmarks/commands.py [--runs 3] [--only two-coins,default,2d-k2,2d-k3] [--source DIR]``.
Each command runs ``--runs`` times in a fresh process, with its defaults (4
chains of 1000 draws after 1000 tuning steps, text output to a pipe), after
one untimed run that fills the compilation caches a user's second run finds;
the table gives the fastest and the median. ``--source DIR`` runs the
``inference`` and ``models`` of another checkout (for instance an earlier
commit, with ``git worktree add``) in the same environment, for before and
after figures. The 2-D data sets are written to a temporary folder from
``benchmarks/samplers.py``'s simulators.
"""

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from samplers import three_clusters, two_clusters

COMMANDS = {
    "two-coins": ("two coins, the seed data", ["compare", "two-coins"]),
    "default": ("default 1-D data, K=3 full", ["compare", "gmm"]),
    "2d-k2": ("2-D, 300 rows, K=2 full", ["compare", "gmm", "--data", "{two_clusters}", "--components", "2"]),
    "2d-k3": ("2-D, 300 rows, K=3 full", ["compare", "gmm", "--data", "{three_clusters}", "--components", "3"]),
}


def write_data(folder: Path) -> dict[str, str]:
    """The 2-D data sets as CSV files in ``folder``; their paths by name."""
    paths = {}
    for name, x in (("two_clusters", two_clusters()), ("three_clusters", three_clusters())):
        path = folder / f"{name}.csv"
        np.savetxt(path, x, delimiter=",", header="a,b", comments="")
        paths[name] = str(path)
    return paths


def seconds(arguments: list[str], source: Path) -> float:
    """Wall seconds of one run of ``python -m inference.cli arguments`` in ``source``; its failure is an error.

    ``python -m`` puts the working directory first on the import path, so the
    checkout it runs in is the one whose code runs.
    """
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "inference.cli", *arguments], check=True, cwd=source, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(COMMANDS), help=f"comma-separated, from {list(COMMANDS)}")
    parser.add_argument("--source", help="a checkout whose inference and models to run instead of this one's")
    args = parser.parse_args(argv)
    source = Path(args.source or Path(__file__).parents[1]).resolve()
    print(f"{args.runs} timed runs after one untimed; source: {args.source or 'this checkout'}\n")
    print("| command | fastest s | median s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        paths = write_data(Path(folder))
        for name in args.only.split(","):
            label, template = COMMANDS[name]
            arguments = [part.format(**paths) for part in template]
            seconds(arguments, source)
            runs = [seconds(arguments, source) for _ in range(args.runs)]
            print(f"| {label} (`em-bayes {' '.join(template)}`) | {min(runs):.1f} | {statistics.median(runs):.1f} |", flush=True)


if __name__ == "__main__":
    main()
