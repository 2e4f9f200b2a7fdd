"""Data users bring: csv files with class names, missing values and categories; image folders.
(docs/data.md)"""

import json
import sys

import numpy as np
import pytest

from nndsl import paths
from nndsl.cli import main
from nndsl.data import files, images
from nndsl.data.table import DataError

SPEC = """network N {
  input x: [B, WIDTH]
  output z = x -> dense(2)
}
train {
  model = N
  data = DATA
  loss = cross_entropy(z, y)
  optimizer = adam(lr=0.1)
  batch = 8
  epochs = 3
}
"""


def _rows(n=40):
    """Class `dog` first (so sorted ids differ from the order of appearance): age and height
    separate the classes, color does not."""
    rows = []
    for i in range(n):
        dog = i % 2 == 0
        rows.append(f"{(5 if dog else 1) + 0.01 * i},{'red' if i % 3 else 'blue'},"
                    f"{7 if dog else 3},{'dog' if dog else 'cat'}")
    return rows


def _write(folder, rows, data='csv("d.csv", y="species", onehot=["color"], standardize=true)',
           width=4):
    (folder / "d.csv").write_text("age,color,height,species\n" + "\n".join(rows) + "\n")
    spec = folder / "s.nn"
    spec.write_text(SPEC.replace("DATA", data).replace("WIDTH", str(width)))
    return spec


def test_a_missing_value_is_located_then_string_labels_train_and_predict(tmp_path, capsys):
    rows = _rows()
    rows[3] = ",red,3,cat"  # file line 5: the header is line 1
    spec = _write(tmp_path, rows)
    for command in (["check", str(spec)], ["train", str(spec), "--out", str(tmp_path / "r")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith(f'{spec}:7:14: error[E130]: d.csv:5: column "age" is empty\n'), err
    assert not (tmp_path / "r" / "best.ckpt").exists()

    spec = _write(tmp_path, _rows())
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--quiet"]) == 0
    saved = json.loads((run / "data.json").read_text())
    assert saved["labels"] == {"y": ["cat", "dog"]}
    assert [f["kind"] for f in saved["features"]] == ["number", "onehot", "number"]
    (tmp_path / "in.csv").write_text("age,color,height\n1.1,red,3\n5.2,blue,7\n1.3,blue,3\n")
    capsys.readouterr()
    assert main(["predict", str(spec), "--run", str(run), "--input", str(tmp_path / "in.csv"),
                 "--output", str(tmp_path / "o.npz")]) == 0
    assert "z_label: cat dog cat" in capsys.readouterr().out
    with np.load(tmp_path / "o.npz", allow_pickle=False) as out:
        assert out["z_label"].tolist() == ["cat", "dog", "cat"]
        assert out["z_label"].tolist() == [["cat", "dog"][i] for i in out["z"].argmax(1)]


def _load(tmp_path, text, **options):
    (tmp_path / "t.csv").write_text(text)
    return files.load("csv", tmp_path / "t.csv", {"y": "label"}, from_spec=False,
                      options=options)


@pytest.mark.parametrize("text,code,message", [
    ("a,label\n1,x\nred,y\n", "E131", ':3: column "a" holds a value that is not a number'),
    ("a,label\n1,x\nnan,y\n", "E131", ':3: column "a" holds a value that is not a number'),
    ("a,label\n1,x\n2\n", "E132", ":3: the row has 1 values, the header line has 2 columns"),
    ("a,label\n1, \n", "E130", ':2: column "label" is empty'),
    ("a,a,label\n1,2,0\n", "E132", ':1: column "a" appears twice in the header line'),
    ("a,label\n1,0.5\n", "E131", ':2: label column "label" holds a number that is not a '
     "whole class id"),
])
def test_bad_cells_are_located_at_their_line_and_column(tmp_path, text, code, message):
    with pytest.raises(DataError) as caught:
        _load(tmp_path, text)
    assert caught.value.code == code
    assert str(caught.value) == f"{tmp_path / 't.csv'}{message}"


def test_categories_and_standardization_fitted_on_the_train_split(tmp_path):
    paths.set_spec(_write(tmp_path, _rows(50)))
    values = {"val": 0.2, "test": 0.2, "seed": 0, "onehot": ["color"], "ids": [],
              "standardize": True, "path": tmp_path / "d.csv", "renames": {"y": "species"},
              "file": "d.csv"}
    arrays, splits = files.load_splits("csv", values)
    assert arrays["x"].shape == (50, 4)  # age, blue, red, height
    train = splits["train"]["x"]
    assert np.allclose(train[:, [0, 3]].mean(0), 0, atol=1e-5)
    assert np.allclose(train[:, [0, 3]].std(0), 1, atol=1e-4)
    assert abs(splits["val"]["x"][:, 0].mean()) > 1e-3  # fitted on train only
    assert set(np.unique(train[:, 1:3])) == {0.0, 1.0} and (train[:, 1:3].sum(1) == 1).all()
    assert values["encoding"]["features"][1]["categories"] == ["blue", "red"]
    ids = _load(tmp_path, "color,label\nred,a\nblue,b\ngreen,a\n", ids=["color"])
    assert ids["x"][:, 0].tolist() == [2.0, 0.0, 1.0] and ids["y"].tolist() == [0, 1, 0]


def test_csv_options_are_checked(tmp_path, capsys):
    for data, message in [
        ('csv("d.csv", y="species", onehot="color")', "csv: `onehot` takes a list of column"),
        ('csv("d.csv", y="species", ids=["colour"])', "d.csv has no column `colour`"),
        ('csv("d.csv", y="species", standardize=1)', "csv: `standardize` is true or false"),
        ('csv("d.csv", y="species")', 'd.csv:2: column "color" holds a value that is not a '
         "number"),
    ]:
        spec = _write(tmp_path, _rows(), data)
        assert main(["check", str(spec)]) == 1
        assert message in capsys.readouterr().err, data
    spec = _write(tmp_path, _rows(), 'csv("d.csv", y="species", ids=["color"])', width=3)
    assert main(["check", str(spec)]) == 0


def _pictures(folder, count=6):
    from PIL import Image

    rng = np.random.RandomState(0)
    for name, level in (("light", 220), ("dark", 30)):
        (folder / "pics" / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.clip(level + rng.randint(-20, 20, (6, 5, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "pics" / name / f"{i}.png")
    (folder / "pics" / "dark" / "notes.txt").write_text("not an image")


IMAGE_SPEC = SPEC.replace("input x: [B, WIDTH]", "input x: [B, 4, 4, 1]").replace(
    "x -> dense(2)", "x -> flatten -> dense(2)").replace("epochs = 3", "epochs = 1")


def test_an_image_folder_trains_and_predict_names_the_folders(tmp_path, capsys):
    _pictures(tmp_path)
    spec = tmp_path / "i.nn"
    spec.write_text(IMAGE_SPEC.replace("DATA", 'images("pics", size=[4, 4], color="gray")'))
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--quiet"]) == 0
    assert json.loads((run / "data.json").read_text())["labels"] == {"y": ["dark", "light"]}
    new = tmp_path / "new"
    new.mkdir()
    for name in ("a", "b"):
        (new / f"{name}.png").write_bytes((tmp_path / "pics" / "dark" / "0.png").read_bytes())
    assert main(["predict", str(spec), "--run", str(run), "--input", str(new),
                 "--output", str(tmp_path / "o.npz")]) == 0
    with np.load(tmp_path / "o.npz", allow_pickle=False) as out:
        assert out["z"].shape == (2, 2)
        assert out["z_label"].tolist() == [["dark", "light"][out["z"][0].argmax()]] * 2


def test_image_folders_are_checked_before_loading(tmp_path, capsys, monkeypatch):
    _pictures(tmp_path, count=3)
    spec = tmp_path / "i.nn"
    for data, message in [
        ('images("pics", size=[4])', "E134]: images: `size` must be [height, width]"),
        ('images("pics", color="cmyk")', 'E134]: images: `color` must be "gray" or "rgb"'),
        ('images("pics", x="img")', "E134]: images(...) gives the fields x and y"),
        ('images("nowhere")', "E135]: nowhere is not a folder"),
        ('images("pics/dark")', "E135]: pics/dark has no class subfolders"),
        ('images("../")', "E090]: image folder `"),
    ]:
        spec.write_text(IMAGE_SPEC.replace("DATA", data))
        assert main(["check", str(spec)]) == 1
        assert message in capsys.readouterr().err, data
    spec.write_text(IMAGE_SPEC.replace("DATA", 'images("pics", size=[4, 4], color="gray")'))
    monkeypatch.setattr(images, "MAX_IMAGES", 5)
    assert main(["check", str(spec)]) == 1
    assert "E135]: pics holds 6 images, over the limit of 5" in capsys.readouterr().err
    monkeypatch.setattr(images, "MAX_IMAGES", 100)
    outside = tmp_path / "outside.png"
    outside.write_bytes((tmp_path / "pics" / "dark" / "0.png").read_bytes())
    (tmp_path / "project" / "pics" / "cat").mkdir(parents=True)
    (tmp_path / "project" / "pics" / "cat" / "1.png").symlink_to(outside)
    (tmp_path / "project" / "i.nn").write_text(spec.read_text())
    assert main(["train", str(tmp_path / "project" / "i.nn"), "--out", str(tmp_path / "r")]) == 1
    assert "error[E090]: image `" in capsys.readouterr().err
    assert not (tmp_path / "r" / "best.ckpt").exists()
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match="needs Pillow") as caught:
        images.load(tmp_path / "pics", "pics", {"size": [4, 4], "color": "gray"},
                    from_spec=False)
    assert caught.value.code == "E136" and "nndsl[images]" in caught.value.hint


def test_predict_inputs_are_encoded_as_the_run_saved(tmp_path):
    from nndsl.data.encoding import Encoding, class_names
    from nndsl.fit.inputs import read_inputs
    from nndsl.ir import Graph
    from nndsl.source import SpecError

    enc = Encoding("csv", labels={"y": ["cat", "dog"]}, renames={"y": "species"}, features=[
        {"column": "age", "kind": "number", "categories": [], "mean": 2.0, "std": 4.0},
        {"column": "color", "kind": "onehot", "categories": ["blue", "red"]}])
    (tmp_path / "in.csv").write_text("color,age,species\nred,6,cat\nblue,2,dog\n")
    x = files.load("csv", tmp_path / "in.csv", {}, from_spec=False, encoding=enc)["x"]
    assert x.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    scores = {"z": np.array([[0.1, 0.9], [2.0, 1.0]]), "h": np.zeros((2, 3))}
    assert {k: v.tolist() for k, v in class_names(scores, enc).items()} == \
        {"z_label": ["dog", "cat"]}
    (tmp_path / "in.csv").write_text("color,age\ngreen,6\n")
    with pytest.raises(SpecError) as caught:
        read_inputs(tmp_path / "in.csv", Graph("N"), enc)
    assert str(caught.value).startswith(
        f'{tmp_path / "in.csv"}: error[E133]: {tmp_path / "in.csv"}:2: column "color" holds a '
        "category the training data did not have")


def test_a_data_json_nndsl_did_not_write_is_a_located_error(tmp_path):
    from nndsl.data import encoding
    from nndsl.source import SpecError

    assert encoding.read(tmp_path) is None
    for text in ("not json", '{"source": "csv", "labels": ["a"]}', '{"x": 1}'):
        (tmp_path / "data.json").write_text(text)
        with pytest.raises(SpecError, match=r"error\[E133\]: .*data.json is not a data encoding"):
            encoding.read(tmp_path)
