"""`point_clouds`: synthetic point clouds for set networks (PointNet), generated from a seed.

Each example is `points` points sampled uniformly from the surface of one of five shape
families (sphere, cube, cylinder, cone, torus), each with its own random proportions, turned
by a uniformly random rotation (when `rotate` is true), centred and scaled into the unit ball,
with Gaussian `noise` added. x is f32[B, points, 3], y the family i32[B] (SHAPES order).
"""

from __future__ import annotations

import numpy as np

SHAPES = ("sphere", "cube", "cylinder", "cone", "torus")


def _sphere(n, rng):
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _cube(n, rng):
    """Uniform on the faces of a box with random side lengths in [0.6, 1.4]."""
    sides = rng.uniform(0.6, 1.4, size=3)
    areas = np.array([sides[1] * sides[2], sides[0] * sides[2], sides[0] * sides[1]])
    axis = rng.choice(3, size=n, p=areas / areas.sum())
    p = rng.uniform(-0.5, 0.5, size=(n, 3))
    p[np.arange(n), axis] = rng.choice((-0.5, 0.5), size=n)
    return p * sides


def _cylinder(n, rng):
    """The side of a cylinder of radius 1 and a random height in [1, 3]."""
    height, angle = rng.uniform(1.0, 3.0), rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(angle), np.sin(angle), height * (rng.rand(n) - 0.5)], 1)


def _cone(n, rng):
    """The side of a cone of base radius 1 and a random height in [1, 3] (area-uniform)."""
    height, angle = rng.uniform(1.0, 3.0), rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(rng.rand(n))  # uniform on the lateral surface: density grows with radius
    return np.stack([r * np.cos(angle), r * np.sin(angle), height * (1 - r)], 1)


def _torus(n, rng):
    """A torus of tube radius in [0.2, 0.45] about a circle of radius 1 (angles uniform)."""
    tube = rng.uniform(0.2, 0.45)
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    ring = 1 + tube * np.cos(v)
    return np.stack([ring * np.cos(u), ring * np.sin(u), tube * np.sin(v)], 1)


_SAMPLERS = (_sphere, _cube, _cylinder, _cone, _torus)


def random_rotation(rng) -> np.ndarray:
    """A uniformly random 3x3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def cloud(label: int, n: int, rng, rotate: bool, noise: float) -> np.ndarray:
    """One point cloud [n, 3] of shape family `label`, centred, in the unit ball."""
    p = _SAMPLERS[label](n, rng)
    if rotate:
        p = p @ random_rotation(rng).T
    p = p - p.mean(0)
    p = p / np.linalg.norm(p, axis=1).max()
    return p + noise * rng.standard_normal(p.shape)


def point_clouds(args: dict) -> dict:
    """Train/val/test sets of `train`/`val`/`test` clouds, each split from its own seed."""
    from nndsl.data.sources import split_counts  # sources registers this loader

    def make(n, rng):
        y = rng.randint(len(SHAPES), size=n)
        x = np.stack([cloud(int(label), args["points"], rng, args["rotate"], args["noise"])
                      for label in y]) if n else np.zeros((0, args["points"], 3))
        return {"x": x.astype(np.float32), "y": y.astype(np.int32)}

    return split_counts(make, args)
