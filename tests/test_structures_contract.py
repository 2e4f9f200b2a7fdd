"""Issue 18's contract specs (specs/): exact parameter counts, as specs/EXPECTED.md states."""

import pytest

import nndsl
from nndsl.ir import count_params
from tests.conftest import ROOT

PARAMS = [
    ("pointnet.nn", "PointNet", 75_141), ("gcn_karate.nn", "KarateGCN", 594),
    ("graph_classify.nn", "GraphSAGE", 3_426), ("graph_classify.nn", "BagOfNodes", 2_306),
    ("memnet.nn", "MemN2N", 3_840), ("memnet.nn", "OneHop", 1_920),
    ("memnet.nn", "LSTMReader", 26_772), ("language_model.nn", "CharLSTM", 21_384),
]


@pytest.mark.parametrize("spec,network,count", PARAMS)
def test_parameter_counts_match_expected(spec, network, count):
    assert count_params(nndsl.load(ROOT / "specs" / spec).network(network)) == count


def test_expected_md_states_every_count():
    text = (ROOT / "specs" / "EXPECTED.md").read_text()
    for spec, network, count in PARAMS:
        assert f"| {spec} | {network} | {count:,} |" in text
