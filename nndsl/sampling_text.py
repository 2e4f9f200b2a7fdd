"""Text from a trained language model, and its token embeddings: `nndsl sample --text`.

The model is a network with one integer input [B, T] (token ids) and one output of next-token
logits [B, T, V] that reads its input causally (an LSTM, a causal Transformer). Sampling
starts from the prompt's ids (or from a token drawn from the model's own prediction after
token 0), and repeats: the last T tokens, right-padded to T, go in; the logits at the last
real position, divided by the temperature, give the next token's distribution.

Tokens are shown by the vocabulary the run's data had: the letters a, b, c, ... of
`markov_text`, the characters of a `text(...)` file (its data.json), else the ids.

`--neighbours K` lists, for each token, the K tokens whose rows of the first `embed` table
are nearest by cosine similarity; `--export-embeddings FILE` writes that table and the tokens
to an .npz. JAX is imported only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NOT_A_LANGUAGE_MODEL = "E265"
BAD_SAMPLING = "E266"
UNKNOWN_PROMPT = "E267"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The text mode's options of `nndsl sample`."""
    parser.add_argument("--text", action="store_true", help="sample text from a language model")
    parser.add_argument("--length", type=int, default=200, help="tokens to sample (200)")
    parser.add_argument("--prompt", default="", help="the text the sample continues")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="divides the logits: below 1 is more conservative (1.0)")
    parser.add_argument("--neighbours", type=int, default=0, metavar="K",
                        help="list each token's K nearest tokens by embedding")
    parser.add_argument("--export-embeddings", type=Path, metavar="FILE",
                        help="write the embedding table and its tokens to FILE (.npz)")


class LanguageModel:
    """A run's network seen as a language model: its token input, logits output, vocabulary."""

    def __init__(self, run):
        self.run = run
        model = run.model
        ints = [n for n, d in model.input_dtypes.items() if d == "int32"]
        if len(ints) != 1 or len(model.input_shapes) != 1:
            raise ValueError("sampling text needs a network with one integer input [B, T]")
        self.input = ints[0]
        self.window = model.input_shapes[self.input][-1]
        if not isinstance(self.window, int):
            self.window = int(run.config.get("data", {}).get("context", 64))
        self.output = model.output_names[0]
        self.tokens = vocabulary(run)

    def logits(self, ids: list[int]) -> np.ndarray:
        """The next-token logits after `ids` (its last `window` tokens)."""
        recent = ids[-self.window:]
        x = np.zeros((1, self.window), np.int32)
        x[0, :len(recent)] = recent
        out = np.asarray(self.run({self.input: x})[self.output])
        return out[0, len(recent) - 1]

    def encode(self, text: str) -> list[int]:
        index = {t: i for i, t in enumerate(self.tokens)}
        unknown = [c for c in text if c not in index]
        if unknown:
            known = "".join(t for t in self.tokens if len(t) == 1)
            raise ValueError(f"the prompt holds {unknown[0]!r}, which is not in the model's "
                             f"vocabulary {known[:60]!r}")
        return [index[c] for c in text]


def vocabulary(run) -> list[str]:
    """Each token id's text, from what the run's data was."""
    from nndsl.data import encoding
    from nndsl.data.markov import symbols_text

    data = run.config.get("data", {})
    if data.get("name") == "markov_text":
        return [symbols_text([i], data["symbols"]) for i in range(data["symbols"])]
    enc = encoding.read(run.path)
    if enc is not None and enc.source == "text":
        return enc.labels["x"]
    return [f"<{i}>" for i in range(_vocab_size(run))]


def _vocab_size(run) -> int:
    out = run.model.graph.type_of(run.model.graph.outputs[run.model.output_names[0]])
    return int(out.shape[-1])


def sample(lm: LanguageModel, length: int, prompt: str = "", temperature: float = 1.0,
           seed: int = 0) -> str:
    """`length` tokens after `prompt`, drawn one at a time from the model's predictions."""
    if temperature <= 0 or length < 1:
        raise ValueError("--temperature must be above 0 and --length at least 1")
    rng = np.random.RandomState(seed)
    ids = lm.encode(prompt) if prompt else [_draw(lm.logits([0]), temperature, rng)]
    for _ in range(length - (0 if prompt else 1)):
        ids.append(_draw(lm.logits(ids), temperature, rng))
    return "".join(lm.tokens[i] for i in ids)


def _draw(logits: np.ndarray, temperature: float, rng) -> int:
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def embedding_table(run) -> np.ndarray:
    """The first `embed` op's table (its own, or the `param` it reads)."""
    graph = run.model.graph
    for node in graph:
        if node.op == "embed":
            owner = node if node.params else graph.nodes[node.inputs[1].node]
            layer, leaf = next(iter(owner.params.values())).key.rsplit(".", 1)
            return np.asarray(run.params[layer][leaf])
    raise ValueError("the network has no `embed` table")


def nearest(table: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """For each row, the k other rows of highest cosine similarity, best first."""
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    order = np.argsort(-similarity, axis=1)[:, :k]
    return [[(int(j), float(similarity[i, j])) for j in row] for i, row in enumerate(order)]


def command(args, run, where) -> int:
    """`nndsl sample --text ...` on `run` (a `nndsl.runs.Run`): print a sample, neighbours,
    or export the embeddings. Errors are located: E265 at `where` (--model, else the spec) for
    a network that is no language model, E266 at a bad --temperature/--length, E267 at a
    prompt with a character the vocabulary lacks."""
    from nndsl.fit.rundir import argument_span
    from nndsl.source import error

    for option, value, low in (("--temperature", args.temperature, "above 0"),
                               ("--length", args.length, "at least 1")):
        if value <= 0:
            raise error(BAD_SAMPLING, f"{option} must be {low}, not {value}",
                        argument_span(option, value), hint=f"{option} 1")
    try:
        lm = LanguageModel(run)
        if args.neighbours or args.export_embeddings:
            _embeddings(lm, args)
            return 0
    except ValueError as exc:
        raise error(NOT_A_LANGUAGE_MODEL, f"`{run.model.name}`: {exc}", where,
                    hint="--text samples a network of one integer input [B, T] and "
                    "next-token logits [B, T, V]; --model picks it in a run of several") from None
    try:
        lm.encode(args.prompt)
    except ValueError as exc:
        raise error(UNKNOWN_PROMPT, str(exc), argument_span("--prompt", args.prompt),
                    hint="write the prompt in the model's vocabulary") from None
    print(sample(lm, args.length, args.prompt, args.temperature, args.seed))
    return 0


def _embeddings(lm: LanguageModel, args) -> None:
    table = embedding_table(lm.run)
    tokens = [repr(t)[1:-1] for t in lm.tokens[:len(table)]]
    if args.export_embeddings:
        np.savez(args.export_embeddings, table=table, tokens=np.array(tokens))
        print(f"wrote {len(table)} embeddings of {table.shape[1]} to {args.export_embeddings}")
    for i, row in enumerate(nearest(table, args.neighbours) if args.neighbours else []):
        shown = "  ".join(f"{tokens[j]} {s:.2f}" for j, s in row)
        print(f"{tokens[i]:>6}  {shown}")
