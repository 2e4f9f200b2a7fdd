"""The command line in pipes and logs: plain lines that never wrap, ASCII tables, and a reader
that leaves early (`| head`) ends nothing and prints nothing about it."""

import signal
import subprocess
import sys
import time

from tests.conftest import CONTRACT

XOR = CONTRACT / "perceptron_xor.nn"


def _nndsl(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nndsl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_piped_output_has_no_wrapped_lines_and_ascii_tables(tmp_path):
    run = tmp_path / ("a-long-directory-name-that-pushes-the-line-past-eighty-columns" * 2)
    done = _nndsl("train", str(XOR), "--epochs", "2", "--out", str(run), "--quiet")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    first = out.splitlines()[0]
    assert first.startswith("training XorMLP") and first.endswith(str(run))
    assert all(line.startswith(("training", "first", "epoch", "saved best", "test", "results"))
               for line in out.splitlines()), out
    table = _nndsl("summary", str(CONTRACT / "mlp_digits.nn")).communicate(timeout=120)[0]
    assert table.splitlines()[1].startswith("+---") and "━" not in table


def test_a_reader_that_leaves_early_ends_nothing(tmp_path):
    run = tmp_path / "run"
    child = _nndsl("train", str(XOR), "--epochs", "40", "--out", str(run), "--quiet")
    assert child.stdout.readline().startswith("training XorMLP")
    child.stdout.close()  # `| head -1`: the reader is gone
    child.wait(timeout=300)
    err = child.stderr.read()
    child.stderr.close()
    assert child.returncode == 0 and err == "", err
    assert (run / "results.json").is_file() and (run / "metrics.csv").is_file()


def test_ctrl_c_ends_quietly_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    child = _nndsl("train", str(XOR), "--epochs", "100000", "--out", str(run), "--quiet")
    deadline = time.monotonic() + 120
    while not (run / "last.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    resumed = _nndsl("train", str(XOR), "--epochs", "100000", "--resume", str(run), "--quiet")
    # Signal once it trains: a signal during Python's own start-up is not nndsl's to handle.
    assert resumed.stdout.readline().startswith("training XorMLP")
    resumed.send_signal(signal.SIGINT)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 130 and "Traceback" not in err, err
