"""The threat model, audited: `check` and `train` of the contract specs open no file outside
the spec's folder, the run directory, the installed software and the documented caches
(docs/security.md). Every `open` is seen through a `sys.addaudithook` hook."""

import os
import sys
from importlib import resources
from pathlib import Path

import pytest

import nndsl
from nndsl.cli import main
from tests.conftest import CONTRACT

OPENED: list[str] = []


def _record(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
        OPENED.append(os.path.realpath(os.fsdecode(args[0])))


# An audit hook cannot be removed: it records for the rest of the session, only while a test
# of this module has cleared OPENED it matters.
sys.addaudithook(_record)


def _allowed_roots(*extra: Path) -> list[str]:
    import matplotlib

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    grammars = resources.files("nndsl.grammars").joinpath("nn.lark")
    roots = [sys.prefix, sys.base_prefix, sys.exec_prefix, Path(nndsl.__file__).parent,
             Path(str(grammars)).resolve().parent, "/proc", "/sys", "/dev",
             matplotlib.get_cachedir(), cache / "nndsl", *extra]
    return [os.path.realpath(r) + os.sep for r in map(str, roots)]


def _outside(roots: list[str]) -> list[str]:
    """Opened files under none of `roots`; package metadata (read for `--version`, wherever
    an editable install keeps it) counts as installed software."""
    return sorted({p for p in OPENED if not any((p + os.sep).startswith(r) for r in roots)
                   and not any(part.endswith((".dist-info", ".egg-info")) or
                               part.startswith("__editable__") for part in Path(p).parts)})


@pytest.fixture
def audit():
    OPENED.clear()
    yield
    OPENED.clear()


def test_check_of_every_contract_spec_opens_only_its_folder(audit, capsys):
    for path in sorted(CONTRACT.glob("*.nn")):
        main(["check", str(path)])
    capsys.readouterr()
    assert OPENED, "the audit hook saw nothing"
    assert (outside := _outside(_allowed_roots(CONTRACT))) == [], outside


@pytest.mark.parametrize("line", ['import "../secret.nn"',
                                  'train { model = N; data = csv("../secret.csv", y="b"); '
                                  'loss = mse(y, y); optimizer = adam() }'])
def test_check_of_a_hostile_spec_opens_nothing_it_names(audit, tmp_path, capsys, line):
    spec = tmp_path / "spec" / "h.nn"
    spec.parent.mkdir()
    for secret in ("secret.csv", "secret.nn"):
        (tmp_path / secret).write_text("a,b\n1,2\n")
    spec.write_text(f"{line}\nnetwork N {{ input x: [B, 2]; output y = x }}\n")
    OPENED.clear()
    assert main(["check", str(spec)]) == 1
    assert "E090" in capsys.readouterr().err
    assert not [p for p in OPENED if Path(p).name.startswith("secret")]


@pytest.mark.parametrize("name", ["perceptron_xor.nn", "mlp_digits.nn"])
def test_train_opens_only_its_spec_run_and_caches(audit, tmp_path, capsys, name):
    run = tmp_path / "run"
    assert main(["train", str(CONTRACT / name), "--epochs", "1", "--out", str(run),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert any(p.startswith(str(run)) for p in OPENED)
    assert (outside := _outside(_allowed_roots(CONTRACT, run))) == [], outside
