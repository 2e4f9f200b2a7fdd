"""Summarise a `make mutate` run: the score and the surviving mutants, by file and function.

Reads mutmut's per-file result files (mutants/**/*.meta). Only mutants matching the sample file's
patterns count (all when no sample is given), so results left in mutants/ by an earlier, larger
run do not leak in; mutants never run ("not checked") are left out. Lines of the sample file that
start with `!` name functions that run only while the package is imported: mutmut switches a
mutant on after the import (the test processes are forked from one that has imported
everything), so their mutants cannot be killed and are counted apart ("import-time"), not as
survivors. Usage: python bench/mutation_report.py [--sample FILE] [--seconds N]
"""

import argparse
import datetime
import fnmatch
import json
from collections import Counter, defaultdict
from pathlib import Path

# mutmut 3's exit-code meanings (mutmut/stats.py); anything else is "suspicious".
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault", 2: "interrupted"}


def patterns(sample: str) -> tuple[list[str], list[str]]:
    """(mutant patterns, import-time function patterns) of a sample file; ([], []) = all."""
    if not sample:
        return [], []
    lines = (line.split("#")[0].strip() for line in Path(sample).read_text().splitlines())
    lines = [line for line in lines if line]
    return ([line for line in lines if not line.startswith("!")],
            [line[1:].strip() for line in lines if line.startswith("!")])


def _matches(name: str, pats: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in pats)


def results(root: Path, wanted: list[str], import_time: list[str]) -> dict[str, str]:
    """Mutant name -> status, for every mutant in the sample that was run."""
    found = {}
    for meta in sorted(root.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if code is None or (wanted and not _matches(name, wanted)):
                continue
            status = STATUS.get(code, "suspicious")
            function = name.rpartition("__mutmut_")[0]
            found[name] = ("import-time" if status == "survived" and _matches(function, import_time)
                           else status)
    return found


def report(found: dict[str, str], sample: str, seconds: float | None) -> str:
    """The summary line, then the mutants not killed, grouped by function."""
    counts = Counter(found.values())
    killed, survived = counts["killed"], counts["survived"]
    raw = killed + survived + counts["import-time"]
    wall = f", wall {seconds / 60:.0f} min" if seconds is not None else ""
    lines = [f"{datetime.date.today()} sample={sample or 'all'}: {len(found)} mutants run; "
             + ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
             + f"; score killed/(killed+survived) = {killed}/{killed + survived} = "
             + f"{killed / max(killed + survived, 1):.1%} (mutmut's own, import-time counted as "
             + f"survived: {killed / max(raw, 1):.1%}){wall}", ""]
    by_function = defaultdict(list)
    for name, status in found.items():
        if status != "killed":
            function, _, number = name.rpartition("__mutmut_")
            by_function[function].append(f"{number}:{status}")
    for function, mutants in sorted(by_function.items()):
        mutants.sort(key=lambda m: int(m.split(":")[0]))
        lines.append(f"{function}: " + " ".join(mutants))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="wall time of the run")
    parser.add_argument("--sample", default="", help="the sample file the run used (none: all)")
    parser.add_argument("--out", type=Path, default=Path("build/mutation.txt"))
    args = parser.parse_args()
    text = report(results(Path("mutants"), *patterns(args.sample)), args.sample, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text.splitlines()[0])
    print(f"mutants not killed, by function: {args.out} (`mutmut show NAME` prints one's diff)")


if __name__ == "__main__":
    main()
