"""`nndsl check` on several files, and its JSON diagnostics for editors and CI."""

import json

from nndsl.cli import main
from tests.conftest import CONTRACT

BAD = "let a = 1 + relu\nnetwork N { input x: [B, 4]; output y = x -> dense(2) }\n"


def test_several_files_are_checked_and_each_is_reported(write_spec, capsys):
    bad = write_spec(BAD, "bad.nn")
    unparsable = write_spec("network {", "broken.nn")
    assert main(["check", str(CONTRACT / "perceptron_xor.nn"), str(bad), str(unparsable)]) == 1
    out, err = capsys.readouterr()
    assert f"{CONTRACT / 'perceptron_xor.nn'}:\nPerceptron: x: [B, 2] → logit: [B, 1]" in out
    assert f"{bad}:" in out and f"{unparsable}:" in out
    assert f"{bad}:1:9: error[E014]" in err and f"{unparsable}:1:9: error[E001]" in err


def test_json_diagnostics_carry_code_span_and_hint(write_spec, capsys):
    bad = write_spec("network N { input x: [B, 4]; output y = x -> dense(2, unitz=3) }\n")
    assert main(["check", str(bad), str(CONTRACT / "mlp_digits.nn"), "--format", "json"]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in reports] == [False, True]
    first = reports[0]["diagnostics"][0]
    assert (first["code"], first["file"], first["line"], first["column"]) == \
        ("E022", str(bad), 1, 55)
    assert first["hint"] == "did you mean `units`?"
    mlp = reports[1]["networks"][0]
    assert mlp == {"name": "MLP", "params": 26122, "inputs": {"x": "[B, 8, 8, 1]"},
                   "outputs": {"logits": "[B, 10]"}}
    assert reports[1]["trains"] == [{"name": None, "model": "MLP", "data": "digits"}]


def test_a_set_name_the_spec_does_not_have_is_refused(capsys):
    spec = str(CONTRACT / "mlp_digits.nn")
    assert main(["check", spec, "--set", "hiden=256"]) == 1
    assert f"{spec}: error[E073]: --set hiden: this spec has no `let hiden`" in \
        capsys.readouterr().err
    assert main(["check", spec, "--set", "MLP.foo=1"]) == 1
    assert "E073" in capsys.readouterr().err
    assert main(["check", spec, "--set", "hidden=64"]) == 0
    assert "(8,970 parameters)" in capsys.readouterr().out
