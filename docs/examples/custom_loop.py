"""A training loop of one's own, in plain JAX and optax, around `spec.compile(...)`.

Run from the repository root: `python docs/examples/custom_loop.py` (NNDSL_EXAMPLE_EPOCHS=3 for
a quick look). Prints the test accuracy of the parameters with the best validation loss.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

import nndsl

EPOCHS = int(os.environ.get("NNDSL_EXAMPLE_EPOCHS", "100"))

# 1. Load the spec and compile its network: pure functions, nothing hidden.
spec = nndsl.load("specs/mlp_digits.nn")
model = spec.compile("MLP")
print(model)                        # Model(MLP: x: ['B', 8, 8, 1] → logits; 26,122 parameters)
params, state = model.init(seed=0)  # {"dense_0": {"w": ..., "b": ...}, ...}, as summary names
outputs, _ = model.apply(params, state, {"x": np.zeros((2, 8, 8, 1), np.float32)})
print({name: value.shape for name, value in outputs.items()})  # {'logits': (2, 10)}

# 2. The data: the same train/val/test splits `nndsl train` uses, as numpy arrays.
data = spec.training().data()
train, val, test = data["train"], data["val"], data["test"]


# 3. The loss the spec's train section states, written in JAX:
#    cross_entropy(logits, y) + 1e-4 * l2(params), l2 being half the sum of squares.
def loss_fn(params, state, batch, rng):
    outputs, new_state = model.apply(params, state, {"x": batch["x"]}, rng=rng, train=True)
    ce = optax.softmax_cross_entropy_with_integer_labels(outputs["logits"], batch["y"]).mean()
    l2 = 0.5 * sum(jnp.sum(w * w) for w in jax.tree.leaves(params))
    return ce + 1e-4 * l2, new_state


optimizer = optax.adam(1e-3)


@jax.jit
def step(params, state, opt_state, batch, rng):
    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, batch, rng)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), state, opt_state, loss


@jax.jit
def scores(params, state, split):
    """Cross-entropy and accuracy in inference mode (dropout off)."""
    logits = model.apply(params, state, {"x": split["x"]})[0]["logits"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, split["y"]).mean()
    return ce, jnp.mean(jnp.argmax(logits, axis=-1) == split["y"])


# 4. The loop: shuffled batches of 64, keep the parameters with the best validation loss,
#    stop after 10 epochs without improvement (the spec's early_stopping).
opt_state = optimizer.init(params)
key = jax.random.PRNGKey(0)
best, best_loss, best_epoch = (params, state), float("inf"), 0
for epoch in range(1, EPOCHS + 1):
    order = np.random.RandomState(epoch).permutation(len(train["y"]))
    for start in range(0, len(order) - 63, 64):
        batch = {k: v[order[start:start + 64]] for k, v in train.items()}
        key, rng = jax.random.split(key)
        params, state, opt_state, loss = step(params, state, opt_state, batch, rng)
    val_loss, val_acc = scores(params, state, val)
    if val_loss < best_loss:
        best, best_loss, best_epoch = (params, state), float(val_loss), epoch
    if epoch - best_epoch >= 10:
        break

# 5. The test split, with the best parameters.
test_loss, test_acc = scores(*best, test)
print(f"best epoch {best_epoch}; test loss {float(test_loss):.4f}; "
      f"test accuracy {float(test_acc):.4f}")
