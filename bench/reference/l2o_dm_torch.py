#!/usr/bin/python3
"""PyTorch reference of L2O-DM meta-training on MLP-orig (REFERENCE.md sections 1-3).

Check mode (default):
    l2o_dm_torch.py DUMP.safetensors [--data DIR]
  DUMP is written by bench_meta_dump_cpu (phi, theta0, batch_idx (21, 128), meta_loss, dphi, u0, ...).
  Re-runs the same 20-step segment on the same weights and minibatches with plain autograd (the
  optimizee gradient computed on a detached theta and fed to the learner as a constant; the
  meta-loss = sum of the 21 losses, each a function of theta_t = theta_0 + sum u; backward to phi
  by autograd), in float32 and in float64, and compares losses, u0, meta_loss and dphi with ours.
  Exit 0 on PASS, 1 on FAIL.

Time mode:
    l2o_dm_torch.py --time N [--threads T] [--data DIR] [--seed S] [--formulation autograd|surrogate]
  Times N meta-iterations (after 1 warm-up) of a vectorised formulation: all 15,910 coordinates as
  the batch dimension, one matmul per LSTM layer per step, theta and LSTM state carried across
  segments (fresh epoch every 5 segments), an Adam step on phi. Prints one JSON line with the
  median ms and the BLAS library actually loaded.

Parsing needs only the standard library and numpy (no safetensors package).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

STEPS = 20
BATCH = 128
HIDDEN = 20
LOG_K = 5.0
OUT_SCALE = 0.01
FORGET_BIAS = 1.0
EPS32 = float(np.finfo(np.float32).eps)

# phi layout (learners/l2o_dm.cpp): name, shape, in order, contiguous
PHI_BLOCKS = [("lstm_0/w", (22, 80)), ("lstm_0/b", (80,)), ("lstm_1/w", (40, 80)), ("lstm_1/b", (80,)),
              ("linear/w", (20, 1)), ("linear/b", (1,))]
PHI_SIZE = sum(int(np.prod(s)) for _, s in PHI_BLOCKS)  # 5141
MLP_SIZES = [784, 20, 10]


# ---------------------------------------------------------------- file formats
def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + hlen
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32")
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[base + b:base + e], dtype="<f4").reshape(info["shape"])
        tensors[name] = arr.copy()
    return meta, tensors


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw[4 + 4 * nd:], dtype=np.uint8).reshape(dims)


def load_mnist(data_dir):
    d = os.path.join(data_dir, "mnist")

    def pick(base):
        p = os.path.join(d, base)
        return p if os.path.exists(p) else p + ".gz"
    images = read_idx(pick("t10k-images-idx3-ubyte")).reshape(-1, 784)
    labels = read_idx(pick("t10k-labels-idx1-ubyte")).astype(np.int64)
    x = torch.from_numpy(images.astype(np.float32)) / 255.0  # same float32 division as the C++ loader
    return x, torch.from_numpy(labels)


# ---------------------------------------------------------------- MLP-orig (784-20-10 sigmoid)
def mlp_loss(theta, x, y):
    """Mean softmax cross-entropy; theta per layer: W (in, out) row-major then b (out)."""
    a = x
    off = 0
    nl = len(MLP_SIZES) - 1
    for l in range(nl):
        i, o = MLP_SIZES[l], MLP_SIZES[l + 1]
        w = theta[off:off + i * o].view(i, o)
        off += i * o
        b = theta[off:off + o]
        off += o
        a = torch.addmm(b, a, w)
        if l + 1 < nl:
            a = torch.sigmoid(a)
    return torch.nn.functional.cross_entropy(a, y)


def mlp_num_params():
    return sum(MLP_SIZES[l] * MLP_SIZES[l + 1] + MLP_SIZES[l + 1] for l in range(len(MLP_SIZES) - 1))


# ---------------------------------------------------------------- L2O-DM
def split_phi(phi_flat):
    """Views of one flat phi vector (keeps autograd to the flat leaf)."""
    out, off = {}, 0
    for name, shape in PHI_BLOCKS:
        k = int(np.prod(shape))
        out[name] = phi_flat[off:off + k].view(shape)
        off += k
    return out


def preprocess(g):
    """DM's LogAndSign, k = 5, eps = float32 machine epsilon -> (n, 2)."""
    lg = torch.clamp(torch.log(g.abs() + EPS32) / LOG_K, min=-1.0)
    sg = torch.clamp(g * math.exp(LOG_K), -1.0, 1.0)
    return torch.stack([lg, sg], dim=1)


def lstm_cell(x, h, c, w, b):
    """Sonnet 1 LSTM: one matmul over [x, h], gates i, j, f, o, forget bias added to f."""
    z = torch.addmm(b, torch.cat([x, h], dim=1), w)
    i, j, f, o = z.chunk(4, dim=1)
    c2 = torch.sigmoid(f + FORGET_BIAS) * c + torch.sigmoid(i) * torch.tanh(j)
    h2 = torch.sigmoid(o) * torch.tanh(c2)
    return h2, c2


def learner_step(p, g, state):
    """u (n) for gradients g (n); state = [(h0, c0), (h1, c1)], returns the new state."""
    x = preprocess(g)
    new = []
    for l in range(2):
        h, c = lstm_cell(x, state[l][0], state[l][1], p[f"lstm_{l}/w"], p[f"lstm_{l}/b"])
        new.append((h, c))
        x = h
    u = torch.addmm(p["linear/b"], x, p["linear/w"]).squeeze(1) * OUT_SCALE
    return u, new


def zero_state(n, dtype):
    return [(torch.zeros(n, HIDDEN, dtype=dtype), torch.zeros(n, HIDDEN, dtype=dtype)) for _ in range(2)]


def reference_segment(phi_np, theta0_np, batch_idx, X, Y, dtype):
    """Plain autograd, as a PyTorch user would write DM's meta-loss with second_derivatives=False."""
    phi = torch.tensor(phi_np, dtype=dtype, requires_grad=True)
    p = split_phi(phi)
    theta = torch.tensor(theta0_np, dtype=dtype)
    X = X.to(dtype)
    n = theta.numel()
    state = zero_state(n, dtype)
    total = torch.zeros((), dtype=dtype)
    losses, u0, g0 = [], None, None
    for t in range(STEPS + 1):
        idx = batch_idx[t]
        xb, yb = X[idx], Y[idx]
        th_d = theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(mlp_loss(th_d, xb, yb), th_d)  # detached optimizee gradient
        f = mlp_loss(theta, xb, yb)  # on the graph: theta_t depends on phi through the updates
        total = total + f
        losses.append(float(f.detach()))
        if t == 0:
            g0 = g.detach().clone()
        if t == STEPS:
            break
        u, state = learner_step(p, g, state)
        if t == 0:
            u0 = u.detach().clone()
        theta = theta + u
    total.backward()
    return {"meta_loss": float(total.detach()), "losses": np.array(losses), "dphi": phi.grad.detach().double().numpy(),
            "u0": u0.double().numpy(), "g0": g0.double().numpy()}


# ---------------------------------------------------------------- check mode
def max_err(a, b):
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    scale = np.max(np.abs(np.asarray(b, np.float64)))
    return float(d.max()), float(d.max() / scale) if scale > 0 else float("inf"), int(d.argmax())


def phi_name(i):
    off = 0
    for name, shape in PHI_BLOCKS:
        k = int(np.prod(shape))
        if i < off + k:
            return f"{name}[{i - off}]"
        off += k
    return f"?[{i}]"


def check(args):
    meta, t = read_safetensors(args.dump)
    X, Y = load_mnist(args.data)
    batch_idx = t["batch_idx"].astype(np.int64)
    assert np.all(batch_idx == t["batch_idx"]), "batch indices are not integers"
    assert t["phi"].size == PHI_SIZE and t["theta0"].size == mlp_num_params(), "unexpected sizes"
    batch_idx = torch.from_numpy(batch_idx)
    torch.set_flush_denormal(True)
    print(f"# dump {args.dump}: metadata {meta}")
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}")
    res = {}
    for name, dt in (("torch_f32", torch.float32), ("torch_f64", torch.float64)):
        t0 = time.perf_counter()
        res[name] = reference_segment(t["phi"], t["theta0"], batch_idx, X, Y, dt)
        print(f"# {name}: {time.perf_counter() - t0:.2f} s")
    ours = {"meta_loss": float(t["meta_loss"][0]), "dphi": t["dphi"], "u0": t["u0"]}
    if "losses" in t:
        ours["losses"] = t["losses"]
    if "g0" in t:
        ours["g0"] = t["g0"]

    ok = True
    rows = []
    ref = res["torch_f32"]
    # Tolerances: float32 accumulation orders differ (Eigen vs BLAS, block sums vs autograd).
    tol = {"losses": 1e-4, "g0": 1e-4, "u0": 1e-4, "meta_loss": 1e-5, "dphi": 1e-3}
    print("\n| quantity | ours | torch f32 | torch f64 | max abs err ours-f32 | rel (to max) | ours-f64 rel | f32-f64 rel | tol | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for q in ("losses", "g0", "u0", "meta_loss", "dphi"):
        if q not in ours:
            continue
        a = np.atleast_1d(ours[q])
        b = np.atleast_1d(ref[q])
        c = np.atleast_1d(res["torch_f64"][q])
        ab, rel, arg = max_err(a, b)
        _, rel64, _ = max_err(a, c)
        _, rel3264, _ = max_err(b, c)
        verdict = "PASS" if rel <= tol[q] and np.all(np.isfinite(a)) else "FAIL"
        ok = ok and verdict == "PASS"
        show = lambda v: f"{v[0]:.7g}" if v.size == 1 else f"max|.|={np.max(np.abs(v)):.4g}"
        print(f"| {q} | {show(a)} | {show(b)} | {show(c)} | {ab:.3g} | {rel:.3g} | {rel64:.3g} | {rel3264:.3g} | {tol[q]:g} | {verdict} |")
        rows.append((q, verdict, arg))
    # Where the first disagreement is, if any.
    if "losses" in ours:
        d = np.abs(ours["losses"] - ref["losses"]) / np.abs(ref["losses"])
        bad = np.nonzero(d > tol["losses"])[0]
        print(f"# per-step loss rel err: max {d.max():.3g} at step {int(d.argmax())}"
              + (f"; first step over tol: {int(bad[0])}" if bad.size else ""))
    ab, rel, arg = max_err(ours["dphi"], ref["dphi"])
    print(f"# dphi worst element: {phi_name(arg)} ours {ours['dphi'][arg]:.6g} torch {ref['dphi'][arg]:.6g}")
    off = 0  # per-block relative error
    parts = []
    for name, shape in PHI_BLOCKS:
        k = int(np.prod(shape))
        a, b, c = ours["dphi"][off:off + k], ref["dphi"][off:off + k], res["torch_f64"]["dphi"][off:off + k]
        s = max(np.max(np.abs(c)), 1e-30)
        parts.append(f"{name} {np.max(np.abs(a - b)) / s:.2g} ({np.max(np.abs(a - c)) / s:.2g}, "
                     f"{np.max(np.abs(b - c)) / s:.2g})")
        off += k
    print("# dphi rel err per block, ours-f32 (ours-f64, f32-f64), to the block's max|f64|: " + ", ".join(parts))
    summary = {"check": "l2o_dm_torch", "meta_loss_ours": ours["meta_loss"], "meta_loss_torch": ref["meta_loss"],
               "meta_loss_torch_f64": res["torch_f64"]["meta_loss"],
               "dphi_max_abs_err": max_err(ours["dphi"], ref["dphi"])[0],
               "dphi_rel_err": max_err(ours["dphi"], ref["dphi"])[1],
               "dphi_rel_err_vs_f64": max_err(ours["dphi"], res["torch_f64"]["dphi"])[1],
               "dphi_rel_err_torch32_vs_f64": max_err(ref["dphi"], res["torch_f64"]["dphi"])[1],
               "u0_rel_err": max_err(ours["u0"], ref["u0"])[1], "result": "PASS" if ok else "FAIL"}
    print(json.dumps(summary))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


# ---------------------------------------------------------------- time mode
def blas_in_use():
    """The BLAS shared object actually mapped into this process (after a matmul)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and any(k in parts[-1] for k in ("blas", "mkl", "blis", "atlas")):
                    libs.add(os.path.realpath(parts[-1]))
    except OSError:
        pass
    return sorted(libs)


def time_mode(args):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.no_flush_denormal)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"

    def sync():  # CUDA work is asynchronous: time only finished work
        if cuda:
            torch.cuda.synchronize()

    X, Y = load_mnist(args.data)
    X, Y = X.to(dev), Y.to(dev)
    n = mlp_num_params()
    gen = torch.Generator().manual_seed(args.seed)  # on the CPU; values are moved to the device
    phi = (torch.randn(PHI_SIZE, generator=gen) * 0.15).clamp(-0.4, 0.4).to(dev).requires_grad_(True)  # ~DM's init
    p = split_phi(phi)
    opt = torch.optim.Adam([phi], lr=1e-3)
    ms = []
    theta = state = None
    segment = 0
    last = float("nan")
    for it in range(args.time + 1):
        if segment % 5 == 0:  # new 100-step epoch: fresh theta_0 ~ N(0, 0.01^2), zero state
            theta = (torch.randn(n, generator=gen) * 0.01).to(dev)
            state = [(h.to(dev), c.to(dev)) for h, c in zero_state(n, torch.float32)]
        sync()
        t0 = time.perf_counter()
        idx_all = torch.randint(0, X.shape[0], (STEPS + 1, BATCH), generator=gen).to(dev)
        state = [(h.detach(), c.detach()) for h, c in state]
        if args.formulation == "autograd":
            # One forward per step on the graph; g = df/dtheta_t taken off that graph (detached).
            theta = theta.detach().requires_grad_(True)
            total = 0.0
            for t in range(STEPS + 1):
                f = mlp_loss(theta, X[idx_all[t]], Y[idx_all[t]])
                total = total + f
                if t == STEPS:
                    break
                (g,) = torch.autograd.grad(f, theta, retain_graph=True)
                u, state = learner_step(p, g, state)
                theta = theta + u
            opt.zero_grad(set_to_none=True)
            total.backward()
        else:
            # Surrogate with the same gradient: d(meta-loss)/du_t = sum_{s>t} g_s (gradients detached),
            # so backward through sum_t <u_t, G_t> only; the MLP is never differentiated twice.
            theta = theta.detach()
            us, gs, total = [], [], 0.0
            for t in range(STEPS + 1):
                th = theta.detach().requires_grad_(True)
                f = mlp_loss(th, X[idx_all[t]], Y[idx_all[t]])
                (g,) = torch.autograd.grad(f, th)
                total = total + f.detach()  # a tensor: no host sync per step
                if t > 0:
                    gs.append(g)
                if t == STEPS:
                    break
                u, state = learner_step(p, g, state)
                us.append(u)
                theta = theta + u.detach()
            G = torch.stack(gs).flip(0).cumsum(0).flip(0)  # suffix sums
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(torch.stack(us), G)
        torch.nn.utils.clip_grad_norm_([phi], float("inf"))  # the trainer's global norm
        opt.step()
        theta = theta.detach()
        sync()
        ms.append((time.perf_counter() - t0) * 1e3)
        last = float(total)
        segment += 1
    ms = ms[1:]
    blas = blas_in_use()
    print(json.dumps({"bench": "meta_iteration_" + dev.type, "impl": "pytorch", "formulation": args.formulation,
                      "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
                      "torch": torch.__version__, "n": n, "steps": STEPS, "iters": args.time,
                      "threads": torch.get_num_threads(), "median_ms": round(float(np.median(ms)), 2),
                      "min_ms": round(float(np.min(ms)), 2), "last_meta_loss": last, "blas": blas}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump", nargs="?", help="safetensors file from bench_meta_dump_cpu (check mode)")
    ap.add_argument("--data", default="data", help="directory holding mnist/ (default: data)")
    ap.add_argument("--time", type=int, default=0, help="time N meta-iterations instead of checking")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (time mode)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-flush-denormal", action="store_true", help="time mode: keep subnormal arithmetic")
    ap.add_argument("--formulation", choices=("autograd", "surrogate"), default="surrogate")
    ap.add_argument("--device", default="cpu", help="time mode: cpu or cuda (PyTorch with CUDA)")
    args = ap.parse_args()
    if args.time > 0:
        return time_mode(args)
    if not args.dump:
        ap.error("give a dump file (check mode) or --time N")
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
