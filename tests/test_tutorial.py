"""docs/tutorial.md stays true: its specs are the files in specs/, its commands parse, its
pictures exist and are small, and the README links it."""

import re
import shlex

from nndsl.cli.parser import build_parser
from tests.conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"


def test_every_spec_in_the_tutorial_is_the_file_in_specs():
    blocks = re.findall(r"```nn\n(.*?)```", TUTORIAL.read_text(), re.S)
    specs = {p.read_text().rstrip("\n") for p in (ROOT / "specs").glob("*.nn")}
    assert len(blocks) == 4
    assert all(block.rstrip("\n") in specs for block in blocks)


def test_every_command_in_the_tutorial_parses():
    lines = [line[2:] for line in TUTORIAL.read_text().splitlines()
             if line.startswith("$ nndsl ")]
    assert len(lines) >= 15
    parser = build_parser()
    for line in lines:
        parser.parse_args(shlex.split(line)[1:])  # exits (a test failure) when it does not


def test_the_pictures_exist_and_are_small():
    pictures = re.findall(r"\]\((img/[\w.]+\.png)\)", TUTORIAL.read_text())
    assert len(pictures) == 4
    for picture in pictures:
        path = ROOT / "docs" / picture
        assert path.is_file() and path.stat().st_size < 150_000, picture


def test_the_readme_links_the_tutorial_and_the_train_reference():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/tutorial.md)" in readme and "(docs/train.md)" in readme
