"""The contract: every spec in shared/specs checks with its exact parameter counts, and every
invalid spec is reported at its `# expect-error: LINE:COL phrase` header."""

import re

import pytest

import nndsl
from nndsl.cli import main
from tests.conftest import CONTRACT

PARAMS = [
    ("perceptron_xor.nn", "Perceptron", 3), ("perceptron_xor.nn", "XorMLP", 17),
    ("mlp_digits.nn", "MLP", 26_122), ("lenet5.nn", "LeNet5", 33_078),
    ("lenet5.nn", "DigitsLeNet", 33_078), ("resnet.nn", "ResNet18", 11_689_512),
    ("resnet.nn", "DigitsResNet", 446_122), ("digits_cnn.nn", "DigitsCNN", 62_506),
    ("elman.nn", "ElmanAdder", 4_353), ("lstm_adding.nn", "LSTMAdder", 17_217),
    ("lstm_adding.nn", "RNNAdder", 4_353), ("autoencoder.nn", "DenoisingAE", 5_264),
    ("vae.nn", "VAE", 8_772), ("gan.nn", "Generator", 17_922),
    ("gan.nn", "Discriminator", 17_025), ("siamese.nn", "Siamese", 8_417),
    ("multitask.nn", "TwoHeads", 4_940), ("dann.nn", "DANN", 6_923),
    ("distill.nn", "Teacher", 85_002), ("distill.nn", "Student", 1_210),
    ("conv1d_waves.nn", "TDNN", 4_899), ("conv1d_waves.nn", "Voxels", 3_764),
]


@pytest.mark.parametrize("spec,network,count", PARAMS)
def test_parameter_counts_match_expected(spec, network, count):
    graph = nndsl.load(CONTRACT / spec).network(network)
    from nndsl.ir import count_params

    assert count_params(graph) == count


VALID = sorted(CONTRACT.glob("*.nn"))
INVALID = sorted((CONTRACT / "invalid").glob("*.nn"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_spec_checks(path, capsys):
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr()
    assert "parameters" in out.out and "error" not in out.err


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_spec_reported_at_its_position(path, capsys):
    header = path.read_text().splitlines()[0]
    match = re.match(r"# expect-error: (\d+):(\d+) (.*)", header)
    assert match, f"{path.name} lacks an expect-error header"
    line, column, phrase = match.groups()
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    located = [row for row in err.splitlines() if f":{line}:{column}: error" in row]
    assert located, err
    assert phrase.lower() in err.lower()


def test_reverser_and_transformer_shapes():
    spec = nndsl.load(CONTRACT / "transformer.nn")
    graph = spec.network("TinyTransformer")
    assert str(graph.type_of(graph.outputs["logits"])) == "[B, 8, 12]"


@pytest.mark.parametrize("spec,network,count", [
    ("zoo/vgg16.nn", "VGG16", 138_357_544),  # torchvision.models.vgg16
    ("zoo/gpt2_small.nn", "GPT2", 124_439_808),  # Hugging Face gpt2 (tied LM head)
    ("zoo/bert_base.nn", "BertBase", 109_482_240),  # Hugging Face bert-base-uncased
    ("zoo/unet.nn", "UNet", 31_030_658),  # Ronneberger et al., tests/test_published_models.py
    ("resnet.nn", "ResNet18", 11_689_512),  # torchvision.models.resnet18
    ("lenet5.nn", "LeNet5", 33_078),
])
def test_published_architectures(spec, network, count):
    from nndsl.ir import count_params
    from tests.conftest import ROOT

    assert count_params(nndsl.load(ROOT / "specs" / spec).network(network)) == count
