"""`nndsl attack`'s computations: accuracy of a classifier under FGSM or PGD at each eps,
on a Target (target.py), and the adversarial inputs of the first examples."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from nndsl.probe import attacks

BATCH = 256


@dataclass
class Outcome:
    """One attack at one eps: accuracy, and the first examples' adversarial inputs."""

    method: str
    eps: float            # a fraction of the valid range
    accuracy: float
    largest_change: float  # max |adversarial - original| over the split, input units
    adversarial: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)


def clean_accuracy(target) -> tuple[float, np.ndarray]:
    """Accuracy on the split without attack, and the predictions."""
    predict = jax.jit(lambda batch: jnp.argmax(target.output_of(batch, batch[target.field]),
                                               axis=-1))
    predictions = np.concatenate([np.asarray(predict(b)) for b, _ in target.batches(BATCH)])
    return float(np.mean(predictions == target.labels)), predictions


def run_attack(target, method: str, eps: float, steps: int, seed: int,
               keep: int) -> Outcome:
    """`method` at `eps` (a fraction of the valid range) over the whole split; keeps the
    adversarial inputs and predictions of the first `keep` examples."""
    absolute = attacks.absolute_eps(eps, target.low, target.high)

    @jax.jit
    def adversarial(batch, labels, key):
        loss = target.loss(batch, labels)
        adv = attacks.attack(method, loss, batch[target.field], absolute, target.low,
                             target.high, steps, key)
        return adv, jnp.argmax(target.output_of(batch, adv), axis=-1)

    correct, largest, kept, predicted = 0, 0.0, [], []
    key = jax.random.PRNGKey(seed)
    for i, (batch, labels) in enumerate(target.batches(BATCH)):
        adv, pred = adversarial(batch, labels, jax.random.fold_in(key, i))
        correct += int(jnp.sum(pred == labels))
        largest = max(largest, float(jnp.max(jnp.abs(adv - batch[target.field]))))
        kept.append(np.asarray(adv[:keep]))
        predicted.append(np.asarray(pred[:keep]))
    return Outcome(method, eps, correct / len(target.labels), largest,
                   np.concatenate(kept)[:keep], np.concatenate(predicted)[:keep])
