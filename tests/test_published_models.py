"""Published architectures written in the language, with their published parameter counts:
BERT-base (pooler on the first token, any sequence length) and the original 572x572 U-Net
(valid convolutions, centre-cropped skips) against a PyTorch reference built here."""

import pytest

import nndsl
from nndsl.cli import main
from nndsl.ir import count_params
from tests.conftest import ROOT


def test_bert_base_has_bert_bases_count_for_any_sequence_length(capsys):
    assert main(["check", str(ROOT / "specs" / "zoo" / "bert_base.nn")]) == 0
    # [B, T] ids with a symbolic T: the pooler reads position 0 whatever the length.
    assert capsys.readouterr().out.strip() == (
        "BertBase: ids: [B, T] i32, segments: [B, T] i32 → sequence: [B, T, 768], "
        "pooled: [B, 768]  (109,482,240 parameters)")


def _torch_unet_count() -> int:
    nn = pytest.importorskip("torch").nn

    def double(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.Conv2d(cout, cout, 3),
                             nn.ReLU())

    widths = [64, 128, 256, 512, 1024]
    modules = [double(1, 64)] + [double(a, b) for a, b in zip(widths, widths[1:])]
    for a, b in zip(widths[:0:-1], widths[-2::-1]):
        modules += [nn.ConvTranspose2d(a, b, 2, stride=2), double(a, b)]
    modules.append(nn.Conv2d(64, 2, 1))
    return sum(p.numel() for m in modules for p in m.parameters())


def test_unet_572_matches_its_pytorch_reference():
    graph = nndsl.load(ROOT / "specs" / "zoo" / "unet.nn").network("UNet")
    assert count_params(graph) == 31_030_658
    assert _torch_unet_count() == 31_030_658
