"""The exact damped natural gradient (nndsl/fit/natural.py): its update against NumPy on a
linear softmax model, and the models it refuses."""

import jax
import numpy as np
import pytest

import nndsl
from nndsl.cli import main
from nndsl.fit.training import Training

LINEAR = """
network Linear {
    input x: [B, 8, 8, 1]
    output logits = x -> flatten -> dense(10)
}

train {
    model     = Linear
    data      = digits(val=0.1, test=0.2, seed=0)
    loss      = LOSS
    metrics   = accuracy(logits, y)
    optimizer = natural_gradient(lr=0.5, damping=0.1)
    batch     = 32
    epochs    = 1
    seed      = 0
}
"""


def _numpy_update(x, y, w, b, lr, damping):
    """-lr (F + damping I)^-1 g for logits = x w + b, parameters flattened as (b, w)."""
    n, k = len(x), w.shape[1]
    logits = x @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # d logits_n / d (b, w): identity for b, x_n kron identity for w (row-major w[i, k]).
    jac = np.stack([np.concatenate([np.eye(k), np.kron(xn[:, None], np.eye(k))])
                    for xn in x])  # [N, P, K]
    residual = p - np.eye(k)[y]
    g = np.einsum("npk,nk->p", jac, residual) / n
    out = np.stack([np.diag(pn) - np.outer(pn, pn) for pn in p])
    fisher = np.einsum("npk,nkl,nql->pq", jac, out, jac) / n
    return -lr * np.linalg.solve(fisher + damping * np.eye(len(g)), g)


def test_the_update_is_the_damped_fisher_step(write_spec):
    spec = nndsl.load(write_spec(LINEAR.replace("LOSS", "cross_entropy(logits, y)")))
    trainer = Training(spec.plan()).trainer
    params, state, opt = trainer.init(0)
    before = jax.tree.map(np.asarray, params)
    batch = {k: v[:32] for k, v in trainer.device_data["train"].items()}
    after, *_ = trainer.step(params, state, opt, batch, jax.random.PRNGKey(0))
    layer = next(iter(before))
    w, b = before[layer]["w"].astype(np.float64), before[layer]["b"].astype(np.float64)
    x = np.asarray(batch["x"], np.float64).reshape(32, -1)
    want = _numpy_update(x, np.asarray(batch["y"]), w, b, 0.5, 0.1)
    have = np.concatenate([np.asarray(after[layer]["b"]) - b,
                           (np.asarray(after[layer]["w"]) - w).ravel()])
    assert np.allclose(have, want, rtol=2e-3, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("change, code, message", [
    (("dense(10)", "dense(80) -> relu -> dense(10)"), "E290",
     "this model trains 6,010 parameters, over the limit of 5,000"),
    (("LOSS", "mse(logits, logits)"), "E291", "its loss has 0 cross_entropy terms"),
])
def test_a_model_it_cannot_serve_is_a_located_error(write_spec, tmp_path, capsys, change, code,
                                                    message):
    text = LINEAR.replace(*change).replace("LOSS", "cross_entropy(logits, y)")
    assert main(["train", str(write_spec(text)), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and message in err and ":12:17:" in err
