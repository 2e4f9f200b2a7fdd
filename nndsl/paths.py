"""What a spec may read and which runs it may name: the file-access policy, in one place.

A spec is data, and may come from someone else. It may read only
- `.nn` imports, `npz(...)`/`csv(...)` data files and `images(...)` folders (and each image
  in them) under the spec's own folder, under a
  folder given with `--data-root DIR`, or in nndsl's standard library;
- the best checkpoint of a run it names in `load(Net, "run")`, resolved under the runs root
  (`runs/<spec>-<run>`, then `runs/<run>`), unless `--allow-outside-runs` is given.
Only regular files are opened (no FIFOs, devices or directories: they could block or never
end), each under a size cap checked before reading. A spec writes only into its run
directory. Refusals name the rule and the path, never the file's contents. See
docs/security.md. No JAX here: `check` uses this module.
"""

from __future__ import annotations

import os
import stat
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

from nndsl.source import Diagnostic, Source, Span, SpecError

REFUSED = "E090"
SPEC_MAX_BYTES = 2**20
DATA_MAX_BYTES = 2 * 2**30
STD_DIR = Path(__file__).resolve().parent / "std"
RULE = ("a spec reads only files under its own folder, a --data-root folder or nndsl's "
        "standard library (see docs/security.md)")


class PathRefused(ValueError):
    """The policy refuses a path; the message names the rule, never the file's contents.
    `hint` says what would be read instead (None: the message says it all)."""

    code = REFUSED

    def __init__(self, message: str, hint: str | None = RULE):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Access:
    """What the command line allows beyond the defaults."""

    data_roots: tuple[Path, ...] = ()
    allow_outside_runs: bool = False


_ACCESS: ContextVar[Access | None] = ContextVar("nndsl_access", default=None)
_SPEC_ROOT: ContextVar[Path | None] = ContextVar("nndsl_spec_root", default=None)


def configure(data_roots=(), allow_outside_runs: bool = False) -> None:
    """Set the command line's `--data-root` folders and `--allow-outside-runs`."""
    roots = tuple(Path(r).resolve() for r in data_roots)
    _ACCESS.set(Access(roots, allow_outside_runs))


def _access() -> Access:
    return _ACCESS.get() or Access()


def set_spec(path: Path) -> None:
    """The top-level spec being loaded: its folder becomes a read root."""
    _SPEC_ROOT.set(Path(path).resolve().parent)


def read_roots() -> tuple[Path, ...]:
    """The folders a spec may read under: its own, the --data-root ones, the std library."""
    spec_root = _SPEC_ROOT.get()
    return (*((spec_root,) if spec_root else ()), *_access().data_roots, STD_DIR)


def file_span(path: str | Path) -> Span:
    """A span naming a whole file (errors about a file rather than a place in it)."""
    return Span(Source(str(path), ""), 0, 0, 0, 0)


def refused(exc: PathRefused, span: Span) -> SpecError:
    """A located error for a refused path."""
    return SpecError(Diagnostic(exc.code, str(exc), span, hint=exc.hint))


def inside_roots(path: Path, what: str) -> Path:
    """`path` resolved (symbolic links followed), if it lies under a read root."""
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root) for root in read_roots()):
        raise PathRefused(f"{what} `{path}` is outside the folders this spec may read")
    return resolved


def human_size(n: int, decimals: int = 1) -> str:
    """A byte count as people read it: `3.0 MiB`, `512 B`."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.{decimals}f} {unit}"
    return f"{n} B"


def _check_stat(info: os.stat_result, path: Path, limit: int, what: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else
                "a FIFO" if stat.S_ISFIFO(info.st_mode) else
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "not a regular file")
        raise PathRefused(f"{what} `{path}` is {kind}; only regular files are read", hint=None)
    if info.st_size > limit:
        raise PathRefused(f"{what} `{path}` is {human_size(info.st_size)}, over the "
                          f"{human_size(limit)} limit for a {what}", hint=None)


def open_regular(path: Path, limit: int, what: str) -> BinaryIO:
    """Open a regular file of at most `limit` bytes for binary reading. Checked with stat
    before opening (opening a device can act) and again on the open descriptor, which is
    opened non-blocking so that a FIFO swapped in meanwhile cannot hang. Raises
    PathRefused, or OSError when the file cannot be read."""
    _check_stat(os.stat(path), path, limit, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_stat(os.fstat(fd), path, limit, what)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file, never more than `limit` (it may grow while read)."""
    with open_regular(path, limit, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise PathRefused(f"{what} `{path}` grew over the {human_size(limit)} limit while read")
    return data


def read_file(path: Path, limit: int, what: str, code: str) -> bytes:
    """`read_bytes` for a file a command names (a checkpoint, an exported artifact): a
    refused path is reported as E090, an unreadable file as `code`, each naming the file."""
    try:
        return read_bytes(path, limit, what)
    except PathRefused as exc:
        raise refused(exc, file_span(path)) from None
    except OSError as exc:
        raise SpecError(Diagnostic(code, f"cannot read {what} {path}: {exc.strerror or exc}",
                                   file_span(path))) from None


def read_source(path: Path) -> Source:
    """A spec or import file as text (undecodable bytes replaced), within the spec cap."""
    data = read_bytes(path, SPEC_MAX_BYTES, "spec file")
    return Source(str(path), data.decode("utf-8", errors="replace"))


def data_file(path: Path) -> Path:
    """A spec's data file: under a read root, regular, within the data cap (stat only)."""
    resolved = inside_roots(path, "data file")
    _check_stat(os.stat(resolved), path, DATA_MAX_BYTES, "data file")
    return resolved


@dataclass(frozen=True)
class RunReference:
    """The run named in `load(Net, "run")`, checked against the run rule."""

    text: str
    outside: bool = False

    def candidates(self, runs_root: Path, spec_stem: str) -> list[Path]:
        """Where the run may be: `runs/<spec>-<run>`, `runs/<run>` (and the path itself when
        --allow-outside-runs is given)."""
        inside = [runs_root / f"{spec_stem}-{self.text}", runs_root / self.text]
        return inside + ([Path(self.text)] if self.outside else [])


def check_run_reference(text: str, span: Span) -> RunReference:
    """The rule for the run string of `load(Net, "run")`: a name or relative path under the
    runs root, never absolute and never through `..` (unless --allow-outside-runs), and
    without `.` (frozen layers are named `Net@run.layer`)."""
    outside = _access().allow_outside_runs
    parts = PurePath(text).parts
    if not text.strip():
        problem = "is empty"
    elif not outside and PurePath(text).is_absolute():
        problem = "is an absolute path"
    elif not outside and ".." in parts:
        problem = "leaves the runs folder through `..`"
    elif "." in text:
        # Frozen layers are named `Net@run.layer`: a dot would make the run ambiguous.
        raise SpecError(Diagnostic(
            REFUSED, f"the run `{text}` in load(...) contains `.`, which separates layer "
            "names", span, hint="name the run's folder without `.` (no flag lifts this rule)"))
    else:
        return RunReference(text, outside)
    raise SpecError(Diagnostic(
        REFUSED, f"the run `{text}` in load(...) {problem}", span,
        hint="name a run under the runs folder (runs/<spec>-<run> or runs/<run>); "
        "--allow-outside-runs allows an absolute path"))
