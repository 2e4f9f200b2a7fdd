"""Checkpoints: safetensors files of named tensors plus one JSON metadata string.

A checkpoint holds `params/<layer>.<name>`, `state/<layer>.<name>` and `opt/<i>/...` tensors
(the names `summary` prints; optimizer states flattened by their pytree key paths) and, in
the safetensors metadata, one JSON string with the plain values (epoch, history, best) and a
SHA-256 over that JSON and every tensor's name, dtype, shape and bytes. Reading parses and
verifies; it never runs code (no pickle anywhere), and a flipped byte or a truncated file is
reported as corruption of that file. Writes are atomic: a temporary file in the same
directory, fsync, then os.replace, so a crash or a full disk leaves the previous checkpoint.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from nndsl.paths import RunReference, file_span, read_file
from nndsl.source import error

FORMAT = "nndsl-checkpoint/1"
UNREADABLE = "E091"
MISMATCH = "E092"
MAX_BYTES = 16 * 2**30
# Pickles of protocol 2 and later start with the PROTO opcode; a safetensors file starts
# with the length of its JSON header, whose first byte after the 8 length bytes is `{`.
_PICKLE_PROTO = b"\x80"
TENSOR_GROUPS = ("params", "state")


def write(path: Path, payload: dict) -> None:
    """Write `payload`: `params`/`state` ({layer: {name: array}}), `opt_states` (optax
    pytrees) and plain JSON values, so that a crash never leaves half a file."""
    tensors = flatten(payload)
    meta = json.dumps({k: v for k, v in payload.items()
                       if k not in (*TENSOR_GROUPS, "opt_states")}, default=plain)
    header = {"format": FORMAT, "meta": meta, "sha256": _digest(meta, tensors)}
    _atomic_write(path, st_save(tensors, metadata=header))


def plain(value):
    """JSON's fallback for the values training produces: numpy and JAX scalars and arrays
    (a loss read from the device) become numbers and lists; anything else its text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def flatten(payload: dict) -> dict[str, np.ndarray]:
    """Every tensor of a payload under its stable name, as contiguous host arrays."""
    import jax

    tensors = {}
    for group in TENSOR_GROUPS:
        for layer, leaves in payload.get(group, {}).items():
            for name, value in leaves.items():
                tensors[f"{group}/{layer}.{name}"] = np.asarray(value, order="C")
    leaves, _ = jax.tree_util.tree_flatten_with_path(payload.get("opt_states", []))
    for key_path, value in leaves:
        tensors[opt_name(key_path)] = np.asarray(value, order="C")
    return tensors


def opt_name(key_path) -> str:
    """`opt/0/1/mu/dense_0.w`: an optimizer-state leaf by its pytree key path."""
    import jax

    parts = []
    for key in key_path:
        if isinstance(key, jax.tree_util.DictKey):
            parts.append(str(key.key))
        elif isinstance(key, jax.tree_util.SequenceKey):
            parts.append(str(key.idx))
        elif isinstance(key, jax.tree_util.GetAttrKey):
            parts.append(key.name)
        else:
            parts.append(str(getattr(key, "key", key)))
    # The last two parts of a parameter-shaped leaf are its layer and name: print them as
    # `summary` does.
    if len(key_path) >= 2 and all(isinstance(k, jax.tree_util.DictKey) for k in key_path[-2:]):
        parts[-2:] = [f"{parts[-2]}.{parts[-1]}"]
    return "opt/" + "/".join(parts)


def _digest(meta: str, tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta.encode())
    for name in sorted(tensors):
        array = tensors[name]
        h.update(f"\0{name}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
        h.update(np.asarray(array, order="C").tobytes())
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        why = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise error(UNREADABLE, f"cannot write checkpoint {path}: {why}; the previous "
                    "checkpoint (if any) is unchanged", file_span(path)) from None


def remove_orphans(run_dir: Path) -> list[Path]:
    """Delete temporary checkpoint files a killed run left behind; returns them."""
    orphans = sorted(run_dir.glob(".*.ckpt.*.tmp"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


class Checkpoint:
    """A verified checkpoint: tensors by name and the plain values."""

    def __init__(self, path: Path, tensors: dict[str, np.ndarray], meta: dict):
        self.path, self.tensors, self.meta = path, tensors, meta

    def group(self, name: str) -> dict[str, dict[str, np.ndarray]]:
        """`params` or `state` as {layer: {name: array}}."""
        nested: dict[str, dict[str, np.ndarray]] = {}
        for key, value in self.tensors.items():
            if key.startswith(f"{name}/"):
                layer, _, leaf = key[len(name) + 1:].rpartition(".")
                nested.setdefault(layer, {})[leaf] = value
        return nested

    def __getitem__(self, key: str):
        if key in TENSOR_GROUPS:
            return self.group(key)
        return self.meta[key]


def read(path: Path) -> Checkpoint:
    """Read and verify a checkpoint this program wrote; raises a clear error naming the file
    when it is missing, not a regular file, an old pickle, truncated or corrupted."""
    data = read_file(path, MAX_BYTES, "checkpoint", UNREADABLE)
    # A pickle starts with 0x80; so does a safetensors file whose header is 128 bytes long
    # modulo 256 (its first 8 bytes are that length), and its JSON header follows at byte 8.
    if data[:1] == _PICKLE_PROTO and data[8:9] != b"{":
        raise error(UNREADABLE, f"{path} was written by an older nndsl; retrain, which "
                    "writes a safe checkpoint (old ones are pickles, never loaded because "
                    "unpickling can run code)", file_span(path))
    try:
        tensors = st_load(data)
        header = _header(data)
        meta_text = header["meta"]
        meta = json.loads(meta_text)
        intact = header.get("format") == FORMAT and header["sha256"] == _digest(meta_text,
                                                                                  tensors)
    except (SafetensorError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        intact = False
    if not intact:
        raise error(UNREADABLE, f"checkpoint {path} is corrupted (truncated, or its "
                    "checksum does not match its contents); it was not loaded",
                    file_span(path), hint="use the other checkpoint of the run (best.ckpt or "
                    "last.ckpt), or retrain")
    return Checkpoint(path, tensors, meta)


def _header(data: bytes) -> dict:
    """The safetensors `__metadata__` of a file already parsed by safetensors."""
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size])["__metadata__"]


def expect(tensors: dict[str, np.ndarray], shapes: dict[str, tuple], origin: str, span,
           code: str = MISMATCH) -> None:
    """Refuse tensors whose names or shapes differ from the spec's, naming the first."""
    for name, shape in shapes.items():
        have = tensors.get(name)
        if have is None or tuple(have.shape) != tuple(shape):
            got = "missing" if have is None else str(list(have.shape))
            raise error(code, f"{origin}tensor `{name.split('/', 1)[1]}` is {got} in the "
                        f"run but {list(shape)} in this spec", span,
                        hint="use the spec (and --set values) the run was trained with; "
                        "config.json in the run directory records them")
    extra = sorted(set(tensors) - set(shapes))
    if extra:
        raise error(code, f"{origin}the run has a tensor `{extra[0].split('/', 1)[1]}` "
                    "that this spec does not", span,
                    hint="use the spec (and --set values) the run was trained with")


def spec_shapes(compiled) -> dict[str, tuple[int, ...]]:
    """The tensors a checkpoint of this compiled graph holds, by name, with their shapes."""
    return {f"{group}/{key}": (*slot.stack, *slot.spec.shape)
            for group, slots in (("params", compiled.param_slots),
                                 ("state", compiled.state_slots))
            for key, slot in slots.items()}


def matching(path: Path, compiled, exact: bool = True) -> Checkpoint:
    """Read a checkpoint and refuse it unless its tensors are the compiled graph's (`exact`:
    no others either), naming the first difference."""
    return checked(read(path), compiled, exact)


def checked(saved: Checkpoint, compiled, exact: bool = True) -> Checkpoint:
    """`saved`, refused unless its tensors are the compiled graph's (see `matching`)."""
    shapes = spec_shapes(compiled)
    tensors = {k: v for k, v in saved.tensors.items()
               if not k.startswith("opt/") and (exact or k in shapes)}
    expect(tensors, shapes, "", file_span(saved.path))
    return saved


def networks(saved: Checkpoint) -> list[str]:
    """The networks a run of several networks trained, by the first part of its layer names
    (`Generator.dense_0`); frozen `Net@run` layers are not the run's own."""
    layers = {key.split("/", 1)[1].rpartition(".")[0] for key in saved.tensors
              if key.startswith(tuple(f"{g}/" for g in TENSOR_GROUPS))}
    return sorted({layer.split(".")[0] for layer in layers
                   if "." in layer and "@" not in layer.split(".")[0]})


def network_part(saved: Checkpoint, network: str) -> Checkpoint:
    """One network's tensors of a several-network run, named as in that network alone
    (`params/Generator.dense_0.w` becomes `params/dense_0.w`)."""
    tensors = {f"{group}/{key[len(group) + len(network) + 2:]}": value
               for key, value in saved.tensors.items() for group in TENSOR_GROUPS
               if key.startswith(f"{group}/{network}.")}
    return Checkpoint(saved.path, tensors, saved.meta)


def restore_opt(saved: Checkpoint, template):
    """Optimizer states in the structure of a freshly initialised `template`."""
    import jax

    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    opt = {k: v for k, v in saved.tensors.items() if k.startswith("opt/")}
    expect(opt, {opt_name(p): np.shape(v) for p, v in leaves}, "optimizer state: ",
           file_span(saved.path))
    return jax.tree_util.tree_unflatten(treedef, [opt[opt_name(p)] for p, _ in leaves])


def find_run(runs_root: Path, spec_stem: str, reference: RunReference) -> Path | None:
    """The run a checked `load(Net, "run")` names: its candidate directories in turn, each
    the newest of its numbered runs (`runs/<spec>-<run>-2` after `runs/<spec>-<run>`)."""
    from nndsl.fit.rundir import newest

    for candidate in reference.candidates(runs_root, spec_stem):
        for run in (newest(candidate), candidate):
            if run is not None and (run / "best.ckpt").is_file():
                return run
    return None
