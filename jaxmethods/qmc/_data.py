"""Shipped generating vectors and matrices (see ``data/README.md``)."""

import functools
import importlib.resources

import numpy as np


JOE_KUO_MAX_DIM = 21201
KUO_LATTICE_MAX_DIM = 9125
KUO_LATTICE_M_MAX = 20


def _data_file(name: str):
    return importlib.resources.files("jaxmethods.qmc").joinpath("data", name)


@functools.cache
def kuo_lattice_vector() -> np.ndarray:
    """Kuo's ``lattice-33002-1024-1048576.9125`` vector: ``uint64``, ``(9125,)``."""
    with _data_file("kuo_lattice_33002_1024_1048576_9125.npy").open("rb") as f:
        return np.load(f).astype(np.uint64)


@functools.cache
def joe_kuo_matrices() -> np.ndarray:
    """Joe–Kuo ``new-joe-kuo-6.21201`` Sobol' generating matrices.

    Returns a read-only ``uint64`` array of shape ``(21201, 32)``: entry
    ``[j, k]`` is column ``k`` of the ``32 x 32`` matrix of dimension ``j``,
    stored as a 32-bit integer whose most significant bit is row 0.
    """
    with _data_file("joe_kuo_6_21201.npz").open("rb") as f:
        z = np.load(f)
        poly = z["poly"].astype(np.int64)
        m_init = z["m_init"].astype(np.uint64)
    bits = 32
    dim = poly.shape[0]
    deg = np.array([int(p).bit_length() - 1 for p in poly])
    v = np.zeros((dim, bits), dtype=np.uint64)
    v[0] = 1  # first dimension: the identity (van der Corput)
    for s in np.unique(deg[1:]):
        rows = np.nonzero(deg == s)[0]
        rows = rows[rows > 0]
        p = poly[rows]
        vr = np.zeros((rows.size, bits), dtype=np.uint64)
        vr[:, :s] = m_init[rows, :s]
        # m_k = 2 a_1 m_{k-1} ^ 4 a_2 m_{k-2} ^ ... ^ 2^s m_{k-s} ^ m_{k-s}
        for k in range(s, bits):
            new = vr[:, k - s] ^ (vr[:, k - s] << np.uint64(s))
            for i in range(1, s):
                a_i = ((p >> (s - i)) & 1).astype(bool)
                new = np.where(a_i, new ^ (vr[:, k - i] << np.uint64(i)), new)
            vr[:, k] = new
        v[rows] = vr
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    out = v << shifts[None, :]
    out.setflags(write=False)
    return out
