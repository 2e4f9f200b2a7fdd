"""FLOPs per layer of ResNet-50, MobileNetV2 and a BERT-base encoder layer, against counts
written out here by hand from each architecture's published layer table (not from nndsl's
shapes), with the conventions of docs/ops.md: a multiply-add is 2 FLOPs, a bias add 1 per
output element, elementwise ops 1 per element, softmax 5 and normalisation 7 per element,
attention's score scaling 1 per score, pooling 1 per window entry, global pooling 1 per
input element. The fixtures (tests/specs/) have the published parameter counts."""

import pytest

import nndsl
from nndsl.ir import count_params
from nndsl.passes.cost import cost
from tests.conftest import ROOT

SPECS = ROOT / "tests" / "specs"


def conv(size, cin, cout, k, groups=1):
    """A bias-free k x k convolution with a `size` x `size` output."""
    return ("conv", 2 * size * size * k * k * (cin // groups) * cout)


def per_element(op, n, flops_each=1):
    return (op, flops_each * n)


def bn(n):
    return per_element("batchnorm", n, 7)


def dense(positions, cin, cout):
    return ("dense", positions * (2 * cin * cout + cout))


def _layers(path, network):
    graph = nndsl.load(path).network(network)
    rows = [(layer.op, layer.flops) for layer in cost(graph).layers if layer.op != "input"]
    return count_params(graph), rows


# ResNet-50 ------------------------------------------------------------------------------------

def bottleneck(size_in, cin, width, stride):
    """torchvision's Bottleneck (the stride on the 3x3 convolution), in the order nndsl emits
    its layers: the main path, the projection shortcut when the shape changes, add, relu."""
    size = size_in // stride
    out = 4 * width
    rows = [conv(size_in, cin, width, 1), bn(size_in ** 2 * width),
            per_element("relu", size_in ** 2 * width),
            conv(size, width, width, 3), bn(size ** 2 * width),
            per_element("relu", size ** 2 * width),
            conv(size, width, out, 1), bn(size ** 2 * out)]
    if stride != 1 or cin != out:
        rows += [conv(size, cin, out, 1), bn(size ** 2 * out)]
    return rows + [per_element("add", size ** 2 * out), per_element("relu", size ** 2 * out)]


def resnet50():
    rows = [conv(112, 3, 64, 7), bn(112 * 112 * 64), per_element("relu", 112 * 112 * 64),
            per_element("maxpool", 56 * 56 * 64, 9)]
    size, cin = 56, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            rows += bottleneck(size, cin, width, s)
            size, cin = size // s, 4 * width
    return rows + [per_element("global_avgpool", 7 * 7 * 2048), dense(1, 2048, 1000)]


# MobileNetV2 ----------------------------------------------------------------------------------

def inverted_residual(size_in, cin, cout, stride, expand):
    size, hidden = size_in // stride, cin * expand
    rows = []
    if expand != 1:
        rows += [conv(size_in, cin, hidden, 1), bn(size_in ** 2 * hidden),
                 per_element("relu6", size_in ** 2 * hidden)]
    rows += [conv(size, hidden, hidden, 3, groups=hidden), bn(size ** 2 * hidden),
             per_element("relu6", size ** 2 * hidden), conv(size, hidden, cout, 1),
             bn(size ** 2 * cout)]
    if stride == 1 and cin == cout:
        rows.append(per_element("add", size ** 2 * cout))
    return rows


def mobilenet_v2():
    rows = [conv(112, 3, 32, 3), bn(112 * 112 * 32), per_element("relu6", 112 * 112 * 32)]
    size, cin = 112, 32
    # The paper's table 2: expansion t, channels c, repeats n, first stride s.
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            rows += inverted_residual(size, cin, c, stride, t)
            size, cin = size // stride, c
    n = 7 * 7 * 1280
    return rows + [conv(7, 320, 1280, 1), bn(n), per_element("relu6", n),
                   per_element("global_avgpool", n), per_element("dropout", 1280),
                   dense(1, 1280, 1000)]


# BERT-base encoder layer ----------------------------------------------------------------------

def bert_layer(t=128, d=768, heads=12, ff=3072):
    attention = (4 * (2 * t * d * d + t * d)     # q, k, v, o projections with biases
                 + 2 * (2 * t * t * d)           # scores q k^T and weights @ v, all heads
                 + heads * t * t * (1 + 5))      # scaling and softmax per score
    n = t * d
    return [("self_attention", attention), per_element("dropout", n), per_element("add", n),
            per_element("layernorm", n, 7), dense(t, d, ff), per_element("gelu", t * ff),
            dense(t, ff, d), per_element("dropout", n), per_element("add", n),
            per_element("layernorm", n, 7)]


@pytest.mark.parametrize("spec,network,params,by_hand", [
    ("resnet50.nn", "ResNet50", 25_557_032, resnet50),          # torchvision resnet50
    ("mobilenet_v2.nn", "MobileNetV2", 3_504_872, mobilenet_v2),  # torchvision mobilenet_v2
    ("bert_base.nn", "BertBaseLayer", 7_087_872, bert_layer),   # one of BERT-base's 12 layers
])
def test_per_layer_flops_match_counts_by_hand(spec, network, params, by_hand):
    count, rows = _layers(SPECS / spec, network)
    assert count == params
    want = by_hand()
    assert [op for op, _ in rows] == [op for op, _ in want]
    mismatched = [(i, op, got, expected) for i, ((op, got), (_, expected)) in
                  enumerate(zip(rows, want)) if got != expected]
    assert not mismatched, mismatched[:5]


@pytest.mark.parametrize("by_hand,published", [(resnet50, 4.09), (mobilenet_v2, 0.30)])
def test_multiply_adds_match_the_published_figures(by_hand, published):
    """torchvision's model tables quote multiply-adds of convolutions and the classifier (its
    "GFLOPS" column): ResNet-50 4.09 G, MobileNetV2 0.30 G."""
    macs = sum(flops for op, flops in by_hand() if op == "conv") / 2
    macs += 2048 * 1000 if by_hand is resnet50 else 1280 * 1000
    assert round(macs / 1e9, 2) == published


# Each op's rule on its own ------------------------------------------------------------------

@pytest.mark.parametrize("shape,expr,flops", [
    # 16 input positions scatter 3x3 kernels of 2 -> 3 channels; the bias on the 9x9x3 output.
    ("[B, 4, 4, 2]", "conv_transpose(3, 3, stride=2)", 16 * 2 * 9 * 2 * 3 + 9 * 9 * 3),
    ("[B, 4, 4, 2]", "conv_transpose(3, 3, stride=2, bias=false)", 16 * 2 * 9 * 2 * 3),
    ("[B, 5, 8]", "dense(3)", 5 * (2 * 8 * 3 + 3)),
    ("[B, 5, 8]", "dense(3, bias=false, norm=weight)", 5 * 2 * 8 * 3),
    ("[B, 4, 6]", "softmax", 5 * 24), ("[B, 4, 6]", "log_softmax(1)", 5 * 24),
    ("[B, 4, 6]", "maxout(3)", 24), ("[B, 4, 6]", "argmax", 24),
    ("[B, 4, 6]", "groupnorm(2)", 7 * 24), ("[B, 4, 6]", "prelu(per_channel=true)", 24),
    # t = 4, d = 6, 2 heads: projections, the two products, scaling and softmax per score.
    ("[B, 4, 6]", "self_attention(2)", 4 * (2 * 4 * 6 * 6 + 4 * 6) + 2 * 2 * 4 * 4 * 6
     + 2 * 4 * 4 * 6),
    ("[B, 4, 6]", "self_attention(2, causal=true)", 4 * (2 * 4 * 6 * 6 + 4 * 6)
     + 2 * 2 * 4 * 4 * 6 + 2 * 4 * 4 * 6),
])
def test_op_flops(write_spec, shape, expr, flops):
    text = f"network N {{\n  input x: {shape}\n  output y = x -> {expr}\n}}\n"
    layers = cost(nndsl.load(write_spec(text)).network("N")).layers
    assert [layer.flops for layer in layers if layer.op != "input"] == [flops]


@pytest.mark.parametrize("kind,flops", [
    # query [B, 3, 4] over memory [B, 5, 6]: q @ wq (4 -> 6), scores and context (5 x 6 per
    # step), scaling and softmax per score (1 head).
    ("dot", 3 * 2 * 4 * 6 + 3 * 2 * 5 * 6 + 3 * 2 * 5 * 6 + 3 * 5 * 6),
    # units 7: q @ wq per step, memory @ wk once, add and tanh per unit of each of the 3 x 5
    # pairs, its product with v, a softmax per score, the context.
    ("additive", 2 * (3 * 4 + 5 * 6) * 7 + 2 * 3 * 5 * 7 + 2 * 3 * 5 * 7 + 5 * 3 * 5
     + 2 * 3 * 5 * 6),
])
def test_attention_flops(write_spec, kind, flops):
    text = ("network N {\n  input q: [B, 3, 4]\n  input m: [B, 5, 6]\n"
            f"  output y = attention(q, m, kind={kind}, units=7)\n}}\n")
    layers = cost(nndsl.load(write_spec(text)).network("N")).layers
    assert [layer.flops for layer in layers if layer.op == "attention"] == [flops]
