"""The `nndsl` command: parse the arguments (cli/parser.py), run one command (cli/static.py,
cli/trained.py) on a thread of its own, print errors; guards for pipes, Ctrl-C, time and memory."""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
import traceback

from nndsl.cli.parser import build_parser, enable_completion
from nndsl.source import SpecError

# When the process started (imports included): `train` reports its first step's latency from
# here for the first command a process runs (see command_start).
_started: float | None = time.perf_counter()

EXIT_OK, EXIT_SPEC, EXIT_INTERNAL = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Deep specs recurse deeply; the work runs on a thread with a 512 MiB stack to match.
RECURSION_LIMIT = 200_000
# check, summary and render run under these limits (see _guard): far above any real spec.
GUARDED_COMMANDS = ("check", "summary", "render")
GUARD_SECONDS = 120
GUARD_BYTES = 4 * 2**30


def command_start() -> float:
    """When this command started: the process's start for the first command it runs (so that
    `nndsl train`'s "first step after" counts the imports), the call itself for any later one
    (`main` called again in one process: a notebook, a test suite)."""
    global _started
    started, _started = _started, None
    return started if started is not None else time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and exits with) 0, 1 for a bad spec, 2 for a bug."""
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    args.started = command_start()
    result: list[int] = []
    # Deep specs recurse deeply: give the work a large stack of its own.
    threading.stack_size(512 * 1024 * 1024)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    if argv is None:
        sys.stdout = _ReaderMayLeave(sys.stdout)
        if args.command in GUARDED_COMMANDS:
            _guard(args)
    worker = threading.Thread(target=lambda: result.append(_run(args)))
    previous = _on_stop_signals(args)
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        _interrupted(args, signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    code = result[0] if result else EXIT_INTERNAL
    if argv is None:
        sys.exit(code)
    return code


class _ReaderMayLeave:
    """Standard output that goes quiet once its reader has gone (`nndsl train ... | head -2`):
    the work goes on, its results land where they always do, and nothing is printed about it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        # Point the descriptor at /dev/null, so that no later flush (not even the
        # interpreter's own at exit) meets the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _on_stop_signals(args) -> dict:
    """SIGINT (Ctrl-C) and SIGTERM (a parent process, a job scheduler) reach the main thread
    while the work runs on its own. `train` is asked to stop between steps, so that it saves
    what it has (cli/trained.py prints how to resume, the exit code is 128 + the signal); a
    second signal, or one for another command, ends the process at once. Returns the
    handlers replaced (none when not on the main thread, e.g. under a caller's thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    from nndsl.fit import rundir

    rundir.clear_stop()

    def on_signal(signum, frame):
        if args.command == "train" and rundir.stop_requested() is None:
            rundir.request_stop(signum)
            print("\nstopping after this step (the run keeps its last finished epoch); "
                  "press Ctrl-C again to quit at once", file=sys.stderr)
            return
        _interrupted(args, signum)

    return {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}


def _interrupted(args, signum: int) -> None:
    """End the process at once, without a traceback, with exit code 128 + the signal. A
    training run's directory keeps the checkpoint of its last finished epoch (last.ckpt is
    written after every epoch), so it resumes from there."""
    message = "interrupted"
    if args.command == "train":
        message += ("; the run keeps its last finished epoch: continue with "
                    f"`nndsl train {args.file} --resume RUN_DIR`")
    print(f"\n{message}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(128 + signum)


def _guard(args) -> None:
    """Limits for the commands that only read a spec (no JAX), so that no spec can take the
    machine down: address space and wall-clock time. Set for the real command only, never
    for a caller that runs `main([...])` in its own process."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = GUARD_BYTES if hard == resource.RLIM_INFINITY else min(GUARD_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def out_of_time(signum, frame):
        print(f"{args.file}: error[E040]: `{args.command}` did not finish in {GUARD_SECONDS} s; "
              "the spec is too large to check", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_SPEC)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(GUARD_SECONDS)


def _run(args) -> int:
    from nndsl.cli import curvature, probe, starter, static, trained

    name = {"eval": "evaluate"}.get(args.command, args.command)
    module = starter if name in starter.COMMANDS else probe if name in probe.COMMANDS else \
        static if hasattr(static, name) else \
        curvature if name in curvature.COMMANDS else trained
    try:
        return getattr(module, name)(args)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        return EXIT_SPEC
    except OSError as exc:
        # The machine's answer (no such directory, disk full, permission): not a bug of ours.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nndsl: {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_SPEC
    except MemoryError:
        print(f"{args.file}: error[E040]: `{args.command}` needs more than "
              f"{GUARD_BYTES // 2**30} GiB for this spec", file=sys.stderr)
        return EXIT_SPEC
    except RecursionError:
        print(f"{args.file}: error[E002]: the spec nests too deeply to elaborate",
              file=sys.stderr)
        return EXIT_SPEC
    except Exception:  # noqa: BLE001 - the last line of defence: never a traceback for users
        if args.debug:
            traceback.print_exc()
        else:
            print(f"nndsl: internal error while running `{args.command}` on {args.file}; "
                  "please report it with the spec (rerun with --debug for details)",
                  file=sys.stderr)
        return EXIT_INTERNAL



if __name__ == "__main__":
    main()
