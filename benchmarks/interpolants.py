"""Benchmark: stochastic interpolants (P18) on the 2-D Gaussian mixture, CPU.

One process (``research/diffusion.md`` §3.3-3.4). Target: the §1.3 mixture
(weights 0.2/0.5/0.3, means (-2, 0), (2, 1), (0, -2.5), stds 0.3/0.5/0.2);
base x0 ~ N(0, I2), independent of x1.

(a) Training. The same MLP (2 + 16 time features -> 3 x 128 SiLU -> 2, float32)
    trained for ``--steps`` Adam steps (optax, cosine decay from 2e-3, batch
    1024, fresh x0, x1, z and t ~ U[1e-3, 1 - 1e-3] at every step, the whole
    loop one jitted ``lax.scan``) as:

    - ``SI (v, s)``: two networks, ``loss_v`` and ``loss_s`` (library
      defaults: antithetic for s only) on ``Interpolant.linear("brownian")``
      (gamma = sqrt(t(1-t))), combined by ``b_from_v_s``: the official
      code's choice;
    - ``SI (b)``: one network, ``loss_b`` (antithetic, the default) on the
      same interpolant; its SDE uses the score network of ``SI (v, s)``;
    - ``CFM``: one network, ``loss_b`` with ``antithetic=False`` on
      ``Interpolant.one_sided_linear()`` (x_t = (1-t) x0 + t x1, target
      x1 - x0: torchcfm's ``ConditionalFlowMatcher(sigma=0)`` objective);
    - ``SI (b), bsquared``: as ``SI (b)`` with gamma = t(1-t) (no score
      network, so ODE and likelihood only).

    Per seed, every network starts from the same initial weights and sees
    the same random stream. Wall time includes compilation (reported apart).
(b) Likelihood. ``log_likelihood`` (Dopri5, rtol = atol = 1e-6, exact
    divergence, the model cast to float64) on 2048 held-out mixture samples;
    NLL = mean of -log q, against the mean of the exact -log p of the same
    samples (the "analytic entropy" estimate H). NLL - H is a paired
    estimate of KL(p || q); its standard error is that of the paired
    differences. Also for the exact fields of
    ``jaxmethods.testing.analytic.GaussianMixtureInterpolant``, and for
    ``--seeds`` training seeds.
(c) ODE samples (seed 0) from 2048 fixed x0: ``pf_ode_sample`` with Euler
    and Heun on uniform grids (``diffrax.StepTo``) of 5/10/20/50 steps and
    Dopri5 + PID at several tolerances (NFE counted with a
    ``jax.debug.callback``, in a separate untimed call).
(d) SDE samples: ``sde_sample`` (Euler-Maruyama, 200 steps) for constant
    eps in {0, 0.25, 0.5, 1} and the vanishing eps(t) = 4 t (1 - t) that the
    ``sde_sample`` docstring suggests for learned scores; exact fields also at
    1000 steps. Quality is the mean over 3 Brownian keys (time: key 0, best
    of 2).

Sample quality against 2048 fresh mixture samples: unbiased MMD^2 with an RBF
kernel exp(-|x - y|^2 / (2 h^2)), h the median pairwise distance of the
reference set (fixed for every row), and the same at h / 8 (a scale that
resolves the components); sliced W2 over 128 fixed directions;
the mean exact -log p of the samples (cross-entropy against the target).
"null" rows: 8 further independent mixture sets of 2048 (mean and sd).
Times: one jitted call on 2048 points, compile excluded, best of
``--repeats`` (default 3), scaled to 1,000 samples. Defaults: 2000 steps, 3
seeds (about 16 min on a loaded 2-core CPU); ``--quick``: 200 steps, one
seed, 512 points and fewer rows (about 2 min).

Run:  python benchmarks/interpolants.py [--quick] [--steps N] [--seeds S]
      [--repeats R]
"""

import argparse
import hashlib
import json
import pathlib
import platform
import time

import jax


jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _timing import best_of, cpu_model  # noqa: E402  (benchmarks/_timing.py)
from jax.scipy.stats import norm  # noqa: E402

from jaxmethods.interpolants import (  # noqa: E402
    Interpolant,
    b_from_v_s,
    log_likelihood,
    loss_b,
    loss_s,
    loss_v,
    pf_ode_sample,
    sde_sample,
)
from jaxmethods.testing.analytic import (  # noqa: E402
    GaussianMixture,
    GaussianMixtureInterpolant,
)


GMM = GaussianMixture(
    jnp.array([0.2, 0.5, 0.3]),
    jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
    jnp.array([0.3, 0.5, 0.2]),
)
GMM32 = jax.tree.map(lambda a: a.astype(jnp.float32), GMM)
SI_PATH = Interpolant.linear("brownian")
SI_BSQ = Interpolant.linear("bsquared")
CFM_PATH = Interpolant.one_sided_linear()
EXACT_SI = GaussianMixtureInterpolant(GMM, SI_PATH)
EXACT_CFM = GaussianMixtureInterpolant(GMM, CFM_PATH)

BATCH, LR, T_MIN = 1024, 2e-3, 1e-3
ODE_STEPS = (5, 10, 20, 50)
ODE_TOLS = (1e-2, 1e-3, 1e-4)
EPSILONS = (0.0, 0.25, 0.5, 1.0)
SDE_STEPS = 200
N_NULL = 8
N_SDE_KEYS = 3


# ----------------------------------------------------------------- model


class Net(eqx.Module):
    """MLP on [x, sin(pi k t), cos(pi k t)], k = 1..8; a field ``f(x, t)``."""

    layers: list
    freqs: jax.Array

    def __init__(self, key, width=128, depth=3, n_freq=8):
        sizes = [2 + 2 * n_freq] + [width] * depth + [2]
        keys = jr.split(key, len(sizes) - 1)
        self.layers = [
            eqx.nn.Linear(i, o, key=k, dtype=jnp.float32)
            for i, o, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]
        self.freqs = jnp.pi * jnp.arange(1, n_freq + 1, dtype=jnp.float32)

    def __call__(self, x, t):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        phase = t[:, None] * self.freqs.astype(x.dtype)
        h = jnp.concatenate([x, jnp.sin(phase), jnp.cos(phase)], axis=-1)
        for layer in self.layers[:-1]:
            h = jax.nn.silu(jax.vmap(layer)(h))
        return jax.vmap(self.layers[-1])(h)


def to_f64(model):
    return jax.tree.map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model
    )


def make_train(loss, interp, steps, antithetic):
    optimizer = optax.adam(optax.cosine_decay_schedule(LR, steps, alpha=0.01))

    @eqx.filter_jit
    def train(model, key):
        params, static = eqx.partition(model, eqx.is_inexact_array)
        opt_state = optimizer.init(params)

        def step(carry, k):
            params, opt_state = carry
            k1, k0, kz, kt = jr.split(k, 4)
            x1 = GMM32.sample(k1, BATCH)
            x0 = jr.normal(k0, (BATCH, 2), jnp.float32)
            z = jr.normal(kz, (BATCH, 2), jnp.float32)
            t = jr.uniform(kt, (BATCH,), jnp.float32, T_MIN, 1.0 - T_MIN)

            def objective(p):
                net = eqx.combine(p, static)
                return loss(net, interp, t, x0, x1, z, antithetic=antithetic)

            value, grads = jax.value_and_grad(objective)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        (params, _), losses = jax.lax.scan(
            step, (params, opt_state), jr.split(key, steps)
        )
        return eqx.combine(params, static), losses

    return train


# name: (loss, interpolant, antithetic); library defaults except for CFM.
NETS = {
    "v": (loss_v, SI_PATH, False),
    "s": (loss_s, SI_PATH, True),
    "b": (loss_b, SI_PATH, True),
    "cfm": (loss_b, CFM_PATH, False),
    "b_bsq": (loss_b, SI_BSQ, True),
}


def train_all(seed, steps):
    out, info = {}, {}
    for name, (loss, interp, anti) in NETS.items():
        train = make_train(loss, interp, steps, anti)
        init, key = Net(jr.key(seed)), jr.key(1000 + seed)
        t0 = time.perf_counter()
        compiled = train.lower(init, key).compile()
        t1 = time.perf_counter()
        net, losses = compiled(init, key)
        jax.block_until_ready(net)
        t2 = time.perf_counter()
        losses = np.asarray(losses)
        out[name] = net
        info[name] = {
            "compile_s": t1 - t0,
            "train_s": t2 - t1,
            "loss_last200": float(losses[-200:].mean()),
        }
        print(json.dumps({"case": "train", "seed": seed, "net": name, **info[name]}))
    return out, info


def fields(nets):
    """name -> (b_fn, s_fn or None), float64 models."""
    v, s, b, cfm, bsq = (to_f64(nets[k]) for k in ("v", "s", "b", "cfm", "b_bsq"))
    return {
        "SI (v, s)": (b_from_v_s(v, s, SI_PATH), s),
        "SI (b)": (b, s),
        "CFM": (cfm, None),
        "SI (b), bsquared": (bsq, None),
    }


EXACT = {
    "exact SI (brownian)": (EXACT_SI.b, EXACT_SI.s),
    "exact one-sided (CFM)": (EXACT_CFM.b, None),
}


# ----------------------------------------------------------------- metrics


def base_logpdf(x):
    return jnp.sum(norm.logpdf(x), axis=-1)


@eqx.filter_jit
def _nll(b_fn, x):
    return log_likelihood(b_fn, x, base_logpdf)


def median_bandwidth(x):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return float(np.median(d[np.triu_indices(len(x), 1)]))


@jax.jit
def mmd2_unbiased(x, y, h):
    def k(a, b):
        d2 = jnp.sum((a[:, None] - b[None]) ** 2, axis=-1)
        return jnp.exp(-d2 / (2.0 * h**2))

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    return sxx + syy - 2.0 * jnp.mean(kxy)


DIRS = np.random.default_rng(7).standard_normal((128, 2))
DIRS /= np.linalg.norm(DIRS, axis=1, keepdims=True)


@jax.jit
def sliced_w2(x, y):
    px, py = jnp.sort(x @ DIRS.T, axis=0), jnp.sort(y @ DIRS.T, axis=0)
    return jnp.sqrt(jnp.mean((px - py) ** 2))


def quality(x, ref, h):
    x = jnp.asarray(x, jnp.float64)
    finite = bool(jnp.all(jnp.isfinite(x)))
    if not finite:
        return {"mmd2": np.nan, "mmd2_h8": np.nan, "sw2": np.nan, "xent": np.nan}
    return {
        "mmd2": float(mmd2_unbiased(x, ref, h)),
        "mmd2_h8": float(mmd2_unbiased(x, ref, h / 8.0)),
        "sw2": float(sliced_w2(x, ref)),
        "xent": float(-jnp.mean(EXACT_SI.logpdf(x, 1.0))),
    }


# ----------------------------------------------------------------- samplers


SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun}
STAGES = {"euler": 1, "heun": 2}


@eqx.filter_jit
def _ode_fixed(b_fn, x0, solver, steps):
    ts = jnp.linspace(0.0, 1.0, steps + 1)
    return pf_ode_sample(
        b_fn,
        x0,
        solver=SOLVERS[solver](),
        stepsize_controller=diffrax.StepTo(ts=ts),
    )


@eqx.filter_jit
def _ode_adaptive(b_fn, x0, tol):
    return pf_ode_sample(b_fn, x0, rtol=tol, atol=tol, max_steps=100_000)


class Counted(eqx.Module):
    """``b_fn`` with a host callback per call (to count the NFE of a solve)."""

    b_fn: object

    def __call__(self, x, t):
        jax.debug.callback(_COUNT.tick)
        return self.b_fn(x, t)


class _Counter:
    n = 0

    def tick(self):
        self.n += 1


_COUNT = _Counter()


def count_nfe(b_fn, x0, tol):
    _COUNT.n = 0
    jax.block_until_ready(_ode_adaptive(Counted(b_fn), x0, tol))
    jax.effects_barrier()
    return _COUNT.n


@eqx.filter_jit
def _sde(b_fn, s_fn, eps, x0, key, steps):
    return sde_sample(b_fn, s_fn, eps, x0, key, n_steps=steps)


def vanishing_eps(t):
    return 4.0 * t * (1.0 - t)


# ----------------------------------------------------------------- run


def source_sha1():
    """sha1 (10 hex) of the library sources this benchmark exercises."""
    root = pathlib.Path(__file__).resolve().parents[1] / "jaxmethods"
    files = [
        *sorted((root / "interpolants").glob("*.py")),
        root / "testing" / "analytic.py",
    ]
    h = hashlib.sha1()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:10]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    quick = args.quick
    steps = args.steps or (200 if quick else 2000)
    n_seeds = args.seeds or (1 if quick else 3)
    reps = args.repeats or (2 if quick else 3)
    n = 512 if quick else 2048
    ode_steps = (5, 20) if quick else ODE_STEPS
    ode_tols = (1e-3,) if quick else ODE_TOLS
    epsilons = (0.0, 1.0) if quick else EPSILONS
    sde_steps = 50 if quick else SDE_STEPS
    scale = 1000.0 / n
    print(
        json.dumps(
            {
                "case": "env",
                "cpu": cpu_model(),
                "python": platform.python_version(),
                "jax": jax.__version__,
                "diffrax": diffrax.__version__,
                "equinox": eqx.__version__,
                "optax": optax.__version__,
                "numpy": np.__version__,
                "sources_sha1": source_sha1(),
                "steps": steps,
                "seeds": n_seeds,
                "n": n,
                "quick": quick,
            }
        ),
        flush=True,
    )
    t_start = time.perf_counter()
    rows = []

    x_test = GMM.sample(jr.key(12345), n)
    logp_test = EXACT_SI.logpdf(x_test, 1.0)
    h_est = float(-jnp.mean(logp_test))
    h_se = float(jnp.std(logp_test) / np.sqrt(n))
    ref = GMM.sample(jr.key(2), n)
    h = median_bandwidth(np.asarray(ref))
    x0 = jnp.asarray(np.random.default_rng(0).standard_normal((n, 2)))
    sde_keys = jr.split(jr.key(0), 1 if quick else N_SDE_KEYS)

    # null: independent true sets against the reference
    nulls = [quality(GMM.sample(jr.key(100 + i), n), ref, h) for i in range(N_NULL)]
    null = {
        k: (float(np.mean([q[k] for q in nulls])), float(np.std([q[k] for q in nulls])))
        for k in nulls[0]
    }
    rows.append({"case": "null", "H": h_est, "H_se": h_se, "bandwidth": h, **null})
    print(json.dumps(rows[-1]), flush=True)

    def nll_row(name, seed, b_fn, extra=None):
        t0 = time.perf_counter()
        lq = _nll(b_fn, x_test)
        jax.block_until_ready(lq)
        dt = time.perf_counter() - t0
        diff = np.asarray(logp_test - lq)
        row = {
            "case": "nll",
            "model": name,
            "seed": seed,
            "nll": float(-jnp.mean(lq)),
            "gap": float(diff.mean()),
            "gap_se": float(diff.std() / np.sqrt(n)),
            "max_abs_logp_err": float(np.max(np.abs(diff))),
            "nll_wall_s": dt,
            **(extra or {}),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    for name, (b_fn, _) in EXACT.items():
        nll_row(name, None, b_fn)

    nets0 = None
    for seed in range(n_seeds):
        nets, info = train_all(seed, steps)
        rows.append({"case": "train", "seed": seed, **info})
        if seed == 0:
            nets0 = nets
        fs = fields(nets)
        tr = {
            "SI (v, s)": ("v", "s"),
            "SI (b)": ("b",),
            "CFM": ("cfm",),
            "SI (b), bsquared": ("b_bsq",),
        }
        for name, (b_fn, _) in fs.items():
            extra = {
                "train_s": sum(info[k]["train_s"] for k in tr[name]),
                "compile_s": sum(info[k]["compile_s"] for k in tr[name]),
            }
            nll_row(name, seed, b_fn, extra)

    assert nets0 is not None
    models = {**EXACT, **fields(nets0)}

    # (c) ODE samples vs NFE
    for name, (b_fn, _) in models.items():
        for solver in ("euler", "heun"):
            for k in ode_steps:
                x = _ode_fixed(b_fn, x0, solver, k)
                t = best_of(_ode_fixed, (b_fn, x0, solver, k), reps)
                row = {
                    "case": "ode",
                    "model": name,
                    "solver": solver,
                    "steps": k,
                    "nfe": k * STAGES[solver],
                    "ms_per_1k": t * scale * 1e3,
                    **quality(x, ref, h),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        for tol in ode_tols:
            x = _ode_adaptive(b_fn, x0, tol)
            t = best_of(_ode_adaptive, (b_fn, x0, tol), reps)
            row = {
                "case": "ode",
                "model": name,
                "solver": "dopri5",
                "tol": tol,
                "nfe": count_nfe(b_fn, x0, tol),
                "ms_per_1k": t * scale * 1e3,
                **quality(x, ref, h),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    # (d) SDE samples vs eps
    for name, (b_fn, s_fn) in models.items():
        if s_fn is None:
            continue
        runs = [(e, sde_steps) for e in epsilons] + [("4t(1-t)", sde_steps)]
        if name.startswith("exact") and not quick:
            runs += [(e, 1000) for e in epsilons if e > 0]
        for e, k in runs:
            eps = vanishing_eps if e == "4t(1-t)" else e
            t = best_of(_sde, (b_fn, s_fn, eps, x0, sde_keys[0], k), min(reps, 2))
            qs = [quality(_sde(b_fn, s_fn, eps, x0, kk, k), ref, h) for kk in sde_keys]
            row = {
                "case": "sde",
                "model": name,
                "eps": e,
                "steps": k,
                "ms_per_1k": t * scale * 1e3,
                **{m: float(np.mean([q[m] for q in qs])) for m in qs[0]},
                "xent_sd": float(np.std([q["xent"] for q in qs])),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    report(rows, n)
    print(f"\ntotal wall time: {time.perf_counter() - t_start:.0f} s")


# ----------------------------------------------------------------- report


def q_cells(r):
    return f"{r['mmd2']:.1e} | {r['mmd2_h8']:.1e} | {r['sw2']:.3f} | {r['xent']:.3f}"


def report(rows, n):
    null = next(r for r in rows if r["case"] == "null")
    print("\n#### Training (per network; float32, batch 1024)\n")
    print("| seed | network | compile s | train s | mean loss, last 200 steps |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        if r["case"] == "train" and "net" not in r:
            for net, i in r.items():
                if isinstance(i, dict):
                    print(
                        f"| {r['seed']} | {net} | {i['compile_s']:.1f} | "
                        f"{i['train_s']:.1f} | {i['loss_last200']:.4f} |"
                    )
    print(
        f"\n#### Likelihood: NLL of {n} held-out samples "
        f"(exact mean -log p = H = {null['H']:.4f} ± {null['H_se']:.4f})\n"
    )
    print(
        "| model | seed | NLL (nats) | NLL - H (± SE) | max abs log p err | "
        "train s (+ compile s) | NLL wall s |"
    )
    print("|---|---:|---:|---|---:|---|---:|")
    nll = [r for r in rows if r["case"] == "nll"]
    for r in nll:
        tr = f"{r['train_s']:.1f} (+ {r['compile_s']:.1f})" if "train_s" in r else "-"
        seed = "-" if r["seed"] is None else r["seed"]
        print(
            f"| {r['model']} | {seed} | {r['nll']:.4f} | {r['gap']:+.4f} "
            f"(± {r['gap_se']:.4f}) | {r['max_abs_logp_err']:.2g} | {tr} | "
            f"{r['nll_wall_s']:.1f} |"
        )
    print("\nNLL - H over seeds (mean, min, max):")
    for m in dict.fromkeys(r["model"] for r in nll if r["seed"] is not None):
        g = [r["gap"] for r in nll if r["model"] == m]
        print(f"  {m}: {np.mean(g):+.4f}  [{min(g):+.4f}, {max(g):+.4f}]")
    print(
        f"\n#### Sample quality against {n} fresh mixture samples "
        f"(RBF bandwidth h = {null['bandwidth']:.3f})\n"
    )
    print(
        f"null (8 independent true sets): MMD^2 {null['mmd2'][0]:.1e} ± "
        f"{null['mmd2'][1]:.1e}, MMD^2 (h/8) {null['mmd2_h8'][0]:.1e} ± "
        f"{null['mmd2_h8'][1]:.1e}, SW2 {null['sw2'][0]:.3f} ± {null['sw2'][1]:.3f}, "
        f"-log p {null['xent'][0]:.3f} ± {null['xent'][1]:.3f}\n"
    )
    print("ODE (pf_ode_sample):\n")
    print(
        "| model | solver | steps / tol | NFE | MMD^2 | MMD^2 (h/8) | SW2 | "
        "mean -log p | ms / 1k |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["case"] == "ode":
            st = r["steps"] if "steps" in r else f"tol {r['tol']:g}"
            print(
                f"| {r['model']} | {r['solver']} | {st} | {r['nfe']} | "
                f"{q_cells(r)} | {r['ms_per_1k']:.1f} |"
            )
    print("\nSDE (sde_sample, Euler-Maruyama; metrics: mean over the keys):\n")
    print(
        "| model | eps | steps | MMD^2 | MMD^2 (h/8) | SW2 | mean -log p | "
        "-log p sd | ms / 1k |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["case"] == "sde":
            print(
                f"| {r['model']} | {r['eps']} | {r['steps']} | {q_cells(r)} | "
                f"{r['xent_sd']:.3f} | {r['ms_per_1k']:.1f} |"
            )


if __name__ == "__main__":
    main()
