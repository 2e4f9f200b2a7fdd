"""Every diagnostic code the compiler can emit is documented in docs/errors.md."""

import re

from tests.conftest import ROOT


def test_every_error_code_is_documented():
    used = set()
    for path in (ROOT / "nndsl").rglob("*.py"):
        used |= set(re.findall(r'"([EW]\d\d\d)"', path.read_text()))
    documented = set(re.findall(r"\| ([EW]\d\d\d) \|", (ROOT / "docs" / "errors.md").read_text()))
    assert used, "no codes found"
    assert used <= documented, f"undocumented: {sorted(used - documented)}"


def test_every_user_op_is_in_the_language_reference():
    from nndsl.ops import USER_OPS

    reference = (ROOT / "docs" / "ops.md").read_text()
    missing = [name for name in USER_OPS if f"`{name}`" not in reference]
    assert not missing, f"regenerate docs/ops.md (python -m nndsl.docgen): {missing}"


def test_op_reference_is_current():
    from nndsl.docgen import render

    assert (ROOT / "docs" / "ops.md").read_text() == render(), "run python -m nndsl.docgen"
