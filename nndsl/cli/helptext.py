"""The long descriptions of the commands (`nndsl CMD --help`), kept apart from the option
wiring in parser.py; docs/commands.md says the same."""

from nndsl.cli import parallel

CHECK_HELP = """\
Parse, elaborate and statically check every network, train and sweep section of each FILE:
shapes (with symbolic batch/time), parameter counts, hyperparameters, and which parameters
each loss can train. Prints one line per network; on errors prints file:line:col, the
source line with a caret, and a hint, then, for an error inside a block, each call it was
reached through (innermost first, with its call site), and exits 1. See docs/errors.md for
every error code.

example:  nndsl check specs/mlp_digits.nn --set hidden=256
"""

SUMMARY_HELP = """\
Per layer: its name (`name=`, the binding, else op_k; blocks nest: Basic_1.conv_0), op,
output shape, trainable parameters and FLOPs per example (a multiply-add counts 2; a bias add
and elementwise ops 1 per output element; softmax 5 and normalisation 7 per element; every
op's rule: docs/ops.md, "Cost conventions"). A layer of a repeated stage is one row
`conv × 24` with its total over the copies, as render draws it; each block instance, repeat
and scan ends with a subtotal row. Totals: trainable parameters, non-trainable state
(batch-norm statistics), FLOPs, activation memory per example, and with --batch N the
training memory (parameters, gradients, optimizer state, activations). When the network's
train section sets `prune = lottery(...)`, the weights each round leaves in every pruned
parameter (its sparsity), before any training (docs/prune.md).

example:  nndsl summary specs/resnet.nn --model ResNet18 --format json
"""

SWEEP_HELP = """\
Search the `let` constants named in the spec's `sweep` section: `choice(...)`,
`uniform(low, high)`, `loguniform(low, high)`, `int(low, high)`; random search with `trials`
draws by default, every combination of `choice` values with `method = grid`. Each trial is a
`nndsl train` run with --set values, in its own directory (trial-000, ...); a live table
shows the trials, a final table ranks them by the train section's monitored quantity
(early_stopping's monitor, else the validation loss), and the best --set line is printed.
Draws come from the seed: rerunning an interrupted sweep skips the trials already done.
The sweep's directory gets sweep.csv and sweep.json (a row per trial: settings, monitored
value, best epoch, run directory), rewritten as each trial ends; in a pipe or log file each
finished trial is one line and the final table is plain text.

`method = tpe` (Optuna, `pip install 'nndsl[search]'`): each trial's values come from a
TPE model of the trials so far (after a random quarter of the budget); `pruner = median`
(default) or `asha` stops a trial whose per-epoch monitored value lags (`none`: never);
the study lives in --storage URL, the sweep's `storage`, else SQLite in the sweep
directory. A rerun resumes the study; another `nndsl sweep` on the same storage joins it
(the trial budget is the study's; no trial runs twice). Bad URL: E280; no Optuna: E281.

example:  nndsl sweep specs/mlp_digits.nn --trials 4 --epochs 20
"""

GRADCHECK_HELP = """\
In float64, on random small inputs shaped by the spec (batch and other symbolic sizes bound
to 3), compare jax.grad of a fixed random projection of the network's outputs with central
finite differences on N random entries of every parameter tensor. Prints one row per tensor
(max absolute and relative error; relative to max(|numeric|, |analytic|, 1)) and exits 1 when
any exceeds the tolerance. Stochastic ops run with a fixed key; ops through which no gradient
flows are listed, not differenced.

--order 2 checks second derivatives: for --samples random directions v, the Hessian-vector
product H v (forward over reverse, which differentiates every derivative rule, custom ones
included) against (grad(p + eps v) - grad(p - eps v)) / 2 eps, eps = 1e-7, every entry of
every parameter tensor compared (docs/optimisation.md).

example:  nndsl gradcheck specs/lstm_adding.nn --model LSTMAdder --set T=5
          nndsl gradcheck specs/lenet5.nn --model DigitsLeNet --order 2
"""

RENDER_HELP = """\
Draw a network as graphviz sees it from the checked graph: ops as `name: op` with key
hyperparameters and parameter counts (summary's figures), a tooltip on each (name, op,
attributes, output shape, parameters), tensor shapes on edges (symbolic sizes kept), blocks
as clusters labelled with their call, `Stage * n` as one cluster marked × n (every copy with
--expand), a cell's step inside a loop cluster with its states drawn back as dashed edges,
shared instances outlined in blue, ops through which no gradient flows outlined in red.
--depth K collapses clusters and scans nested deeper than K into one box with their
parameters and shapes. --train draws a train section's graph: losses, metrics, and which
step trains each layer.

example:  nndsl render specs/resnet.nn --model ResNet18 -o resnet18.png
"""

TRAIN_HELP = """\
Fit the spec's train section: data on the device, one jitted step (forward, gradient,
clipping, optimizer update), a live progress bar and one line per epoch with train and
validation figures, then a test evaluation. The run directory (default
runs/<spec>-<train name or model>) holds spec.nn, config.json, last.ckpt and best.ckpt
(written atomically), metrics.csv, curves.png and results.json (and gibbs.png, an RBM's
Gibbs chains: docs/energy.md). `init = load(Net, "run")` in the section starts the model
from that run's parameters and trains them (docs/train.md). Steps reach the device k at
a time in one jitted loop (train setting steps_per_dispatch: auto, the default, sends ~0.1 s
of steps per call; any k gives the same results; --set steps_per_dispatch=1 for one per call;
see "Steps per dispatch" in docs/train.md).

A new run never replaces an old one: when runs/<spec>-<name> holds a run, this one goes to
runs/<spec>-<name>-2 (then -3, ...; the line printed says which); --overwrite replaces the
newest run instead; --out DIR naming a run needs --overwrite or --resume DIR (E100).
--resume DIR continues a run (to the parameters an uninterrupted run reaches) only with the
spec graph, settings and --set values it was trained with (E101 names what differs);
--resume DIR --epochs N trains a finished run further. Ctrl-C or SIGTERM stops between
steps: last.ckpt keeps the last finished epoch, metrics.csv and curves.png are written, and
the exit code is 130 (SIGINT) or 143 (SIGTERM); a second Ctrl-C quits at once.
See "Run directories" in docs/commands.md.

Progress and logs: on a terminal the bar refreshes at least every 0.5 s with the running-mean
loss of the epoch, examples/s and the ETA. Each epoch prints one line (its losses and metrics,
its duration and examples/s) and `saved best (epoch N, MONITOR VALUE)` when best.ckpt is
written. In a pipe or with --log-format plain: plain lines that never wrap; with
--log-format json: one JSON object per line. metrics.csv gets a row as each epoch ends and
curves.png is redrawn (at most once a second), so an interrupted run keeps both.
--log tensorboard also writes RUN_DIR/tensorboard/. See docs/commands.md.

Lottery tickets: a section with `prune = lottery(rounds, rate, rewind, layers, reinit)`
trains the dense network (RUN/round-0), then each round prunes `rate` of the remaining
weights by magnitude (masks in RUN/masks/round-N.ckpt), rewinds the rest to epoch `rewind`
(0: initial weights, RUN/rewind.ckpt) and retrains with the pruned weights held at zero
(RUN/round-N), and with `reinit` trains the same masks from a fresh initialisation
(RUN/round-N-reinit). It prints the table round → weights left → test metric and writes
lottery.csv, lottery.json, lottery.png and results.json; --resume RUN keeps the trainings
finished before the first unfinished one.
See docs/prune.md.
A repeated stage (`Stage * n`) runs unrolled when n is small (CPU: n <= 4, GPU/TPU: n <= 8)
and as one lax.scan otherwise; NNDSL_REPEAT=scan|unroll|auto in the environment overrides
this (docs/benchmarks.md, "Repeat lowering"; E195).

example:  nndsl train specs/mlp_digits.nn --epochs 20

""" + parallel.DEVICES_HELP

EXPORT_HELP = """\
Write a run's trained network (best.ckpt) as a file that runs without nndsl. `-o model.jax`:
a jax.export artifact (serialized StableHLO) of the forward function in inference mode
(dropout off, batch-norm running statistics), parameters baked in, the batch size symbolic;
load it with jax.export.deserialize and call it with the inputs positionally, in the
network's declared input order; --vjp also serializes its VJP. `-o model.onnx`: the same
function through jax2onnx, checked with onnx.checker (needs pip install 'nndsl[export]');
an op that does not convert is named. Either way model.jax.json / model.onnx.json records
the inputs' and outputs' names, order, dtypes and shapes. `nndsl predict --run model.jax`
runs an artifact. See docs/export.md.

example:  nndsl export specs/mlp_digits.nn --run runs/mlp_digits-MLP -o mlp.jax
"""

SAMPLE_HELP = """\
Draw from a trained generator and write a PNG (default RUN/samples.png). A generator takes a
noise vector z: [B, D], drawn from N(0, 1) with --seed, and optionally a class c: [B] i32
that feeds embed(c, classes, ...) (a conditional GAN or VAE); its first output is drawn:
2-D points [B, 2] as a scatter plot coloured by class, images [B, H, W, C] as a grid with
one row per class. Conditional: N samples of every class (default 500 points or 8 images),
or of class K alone with --class K; unconditional: N in all (500 points, 64 images).
Without --model: the run's one network that is a generator (a GAN's Generator, a VAE's
Decoder). Errors: E246 not a generator, E247 a bad --class, E248 -n over 64 images.

--text samples a trained language model instead (one integer input [B, T], next-token
logits [B, T, V]; docs/language_models.md) and prints the text: --length tokens continuing
--prompt at --temperature; --neighbours K lists each token's K nearest tokens by the cosine
similarity of their embeddings (the first `embed` table); --export-embeddings FILE writes
the table and the tokens. Errors: E265 not a language model, E266 a bad --temperature or
--length, E267 a prompt character outside the vocabulary.

Like every command that reads a run, sample refuses a run of another spec's graph (or of
this one with other --set values): E205, naming the nodes that differ.

example:  nndsl sample specs/cgan.nn --run runs/cgan -o cgan.png
          nndsl sample specs/cvae.nn --run runs/cvae --model Decoder --class 3 -n 16
          nndsl sample specs/language_model.nn --text --length 200 --temperature 0.8
"""

EXPLAIN_HELP = """\
Saliency maps of a trained network (a run's best.ckpt) on the first N examples of a split:
the gradient of a classifier's predicted logit (or --class K's) with respect to the input
(--method gradient), the gradient times the input (gradient_x_input), or SmoothGrad, the
gradient averaged over 16 copies of the input with Gaussian noise of 15% of the valid range
(smoothgrad). A network that is no classifier (its train section's loss is not a
cross_entropy of logits against labels) is explained through its output, entries summed;
--class then is E200. Image inputs [B, H, W, C]: a grid PNG, each input beside its heat map
(|saliency|), titled label → prediction; other inputs: a bar chart per example; --format npz
writes the raw arrays (inputs, maps, labels, predictions, explained). --maximise
LAYER[:UNIT] finds, by gradient ascent on the input (L2 penalty, jitter of 1 pixel, kept in
the valid range; a step is kept only when it raises the activation), the input that drives
a unit of a layer (summary's layer names; a conv unit is a channel, its mean over
positions), or the top --n units of the layer by mean activation on the split. The valid
range of the input is the training split's min to max (digits: 0 to 1). A run of another
spec is E205; a layer that does not exist E203 (with did-you-mean). See docs/inspect.md.

example:  nndsl explain specs/lenet5.nn --n 16 --method smoothgrad -o saliency.png
"""

ATTACK_HELP = """\
Adversarial examples against a trained classifier (a run's best.ckpt) on a split: FGSM
(one step of eps along the sign of the loss gradient; Goodfellow et al. 2015) and PGD
(Madry et al. 2018: a uniform random start in the eps-ball, then --steps signed steps of
2.5 eps / steps, each projected back to the eps-ball and the valid range). eps is a fraction
of the input's valid range (the training split's min to max; digits: 0 to 1), each in
(0, 1] (else E202). Prints a table eps → accuracy per method (eps 0: clean), writes a
picture (-o, default <spec>-attack.png) of the first --n examples at the largest eps:
originals with label → prediction, the perturbations (amplified), the adversarial inputs
with their predictions; and the results as JSON beside it (<spec>-attack.json). See
docs/inspect.md; adversarial training is the train setting `adversarial` (docs/train.md).

example:  nndsl attack specs/lenet5.nn --method fgsm,pgd --eps 0.05,0.1,0.2
"""

HESSIAN_HELP = """\
The largest eigenvalues of the Hessian of a trained run's training loss at its best
parameters: the sharpness of the minimum (a flat minimum has small ones). Lanczos iteration
on Hessian-vector products (forward over reverse), with full reorthogonalisation; the loss
is the train section's, in evaluation mode, over the first --examples training examples.
Prints the eigenvalues and writes RUN/hessian.json (eigenvalues, examples, iterations,
loss). docs/optimisation.md.

example:  nndsl hessian specs/mlp_digits.nn --run runs/mlp_digits-MLP --top 5
"""

LANDSCAPE_HELP = """\
The training loss around a run's best parameters (Li et al. 2018, "Visualizing the loss
landscape of neural nets"): along --dims random Gaussian directions, filter-normalised (each
filter, i.e. output unit, of each weight tensor scaled to that filter's norm in the
parameters; biases and other 1-D tensors not moved), on a grid of --steps points from
-reach to reach per direction. 1 direction: a line plot; 2: a contour plot. The loss is the
train section's in evaluation mode over the whole training split, so the centre of the grid
is exactly the run's training loss (`nndsl eval --split train`). --to DIR2: the loss along
the straight line from this run's parameters (t = 0) to another run's (t = 1) instead.
Writes RUN/landscape-1d|2d|line.png and .npz (coordinates and the raw grid of losses).

example:  nndsl landscape specs/lenet5.nn --run runs/lenet5-DigitsLeNet --dims 2 --steps 21
"""
