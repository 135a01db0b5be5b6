"""Training: a bundle of runs that share data, architecture and model size.

A bundle's runs differ only in lam and seed. They are trained in lock-step, one
optimiser step each per batch, either as one stacked model evaluated with
`torch.func.vmap` (``vectorize=True``) or as separate modules in a loop. Both give
each run exactly what a run trained alone would get (up to float rounding in the
stacked matrix products): every run has its own initial weights (seeded by its
seed), its own batch order and masking noise (its own generators), and its own
Adam state (Adam is elementwise, so one Adam over stacked parameters is K
independent ones).

Data stays on the training device as float tensors, normalised once; batches are
slices of a per-epoch permutation. The loop checkpoints after every epoch, and on
SIGTERM/SIGINT mid-epoch, to a file outside the workflow's declared outputs, and
resumes from it bit-for-bit when the same bundle is trained again with the same
fingerprint.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from cremodels.data import PreparedData, load_prepared
from cremodels.device import select_device, set_determinism
from cremodels.io import save_csv, save_torch, write_json
from cremodels.loss import cre_loss
from cremodels.models import build_model, count_parameters
from cremodels.runinfo import peak_memory_mb, run_environment

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """A run's loss became NaN or infinite; the message names run and epoch."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived; a checkpoint was written before stopping."""


@dataclass(frozen=True)
class Member:
    """One run of a bundle: its name, loss weight and seed."""

    name: str
    lam: float
    seed: int


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0


@dataclass
class MemberResult:
    member: Member
    state_dict: dict
    history: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------- device and seeds


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random from the run's seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_model(model_settings: dict, seed: int) -> torch.nn.Module:
    """The run's initial model: the same weights for the same seed, every time."""
    seed_everything(seed)
    return build_model(**model_settings)


# ---------------------------------------------------------------- model stacks


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack, without the copy when there is a single tensor."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


class ModelStack:
    """K models of one architecture; every method returns per-model results (K, ...).

    Inputs come as one batch per seed group, x (G, B, ...): models with the same
    seed see the same samples; `group_of[k]` is the group of model k.

    With `vectorize`, the K models run at once on stacked parameters: through the
    architecture's own batched layers where it has them (`stacked_forward`, with
    `stack_parameters` choosing the layout, in which the models of a seed group
    share one wide product on their common input), else through torch.func.vmap
    over a leading model axis. Otherwise the K modules run one after another.
    """

    def __init__(
        self, models: list[torch.nn.Module], vectorize: bool, group_of: list[int]
    ):
        self.k = len(models)
        self.group_of = torch.tensor(group_of)
        self.vectorized = vectorize and self.k > 1
        if not self.vectorized:
            self.models = models
            return
        self.base = copy.deepcopy(models[0]).to("meta")
        self.params, self.buffers = stack_module_state(models)
        self.batched_layers = hasattr(self.base, "stacked_forward")
        if self.batched_layers:
            # seed groups stay shared when each is a contiguous, equal run of models
            sizes = torch.bincount(self.group_of)
            contiguous = torch.equal(self.group_of, self.group_of.sort().values)
            shared = contiguous and bool((sizes == sizes[0]).all())
            self.groups = len(sizes) if shared else self.k
            self.params = self.base.stack_parameters(self.params, self.groups)

    def parameters(self) -> list[torch.Tensor]:
        if self.vectorized:
            return list(self.params.values())
        return [p for model in self.models for p in model.parameters()]

    def _call(self, x, noise):
        """(z, x_hat, logits, recon_weight) of every model, stacked on dim 0;
        x holds one batch per seed group (G, B, ...), or one for all (1, B, ...)."""
        index = self.group_of.to(x.device)
        if not self.vectorized:
            outs = [
                model(x[g] if len(x) > 1 else x[0], None if noise is None else noise[k])
                for k, (model, g) in enumerate(zip(self.models, index, strict=True))
            ]
            return tuple(
                None if outs[0][i] is None else _stack([o[i] for o in outs])
                for i in range(4)
            )
        if self.batched_layers and noise is None:
            if len(x) == 1:
                inputs = x.expand(self.groups, *x.shape[1:])
            else:
                inputs = x if len(x) == self.groups else x[index]
            return tuple(
                self.base.stacked_forward({**self.params, **self.buffers}, inputs)
            )

        def one(params, buffers, x_k, noise_k):
            out = functional_call(
                self.base, (params, buffers), (x_k,), {"noise": noise_k}
            )
            return tuple(t for t in out if t is not None)

        shared = len(x) == 1
        in_dims = (0, 0, None if shared else 0, None if noise is None else 0)
        outs = vmap(one, in_dims=in_dims)(
            self.params, self.buffers, x[0] if shared else x[index], noise
        )
        return outs if len(outs) == 4 else (*outs, None)

    def losses(self, x, y, lams, noise=None):
        """Total, MSE and CE per model, each (K,); `lams` is a (K,) tensor.

        x (G, B, ...) and y (G, B) hold one batch per seed group."""
        _, x_hat, logits, weight = self._call(x, noise)
        if len(x) == 1:  # one seed group: every model has the same targets
            target_x, target_y = x[0], y[0]
        else:
            index = self.group_of.to(x.device)
            target_x, target_y = x[index], y[index]
        parts = cre_loss(lams, x_hat, target_x, logits, target_y, weight)
        return parts.total, parts.mse, parts.ce

    @torch.no_grad()
    def score(self, x, y, batch_size: int = 4096):
        """Accuracy and per-pixel MSE of every model on all samples, each (K,),
        unmasked, in no-grad batches of `batch_size` samples summed over the K
        models (so memory does not grow with the bundle)."""
        correct = torch.zeros(self.k, device=x.device)
        squared = torch.zeros(self.k, device=x.device)
        batch_size = max(1, batch_size // self.k)
        for start in range(0, len(x), batch_size):
            batch = x[None, start : start + batch_size]  # one group: all models
            _, x_hat, logits, _ = self._call(batch, None)
            correct += (logits.argmax(-1) == y[start : start + batch_size]).sum(1)
            squared += (x_hat - batch).pow(2).flatten(1).sum(1)
        return correct / len(x), squared / x.numel()

    def member_state_dict(self, k: int) -> dict:
        """The state dict of model k, as its own (unstacked) module would have it."""
        if not self.vectorized:
            return {
                n: t.detach().clone() for n, t in self.models[k].state_dict().items()
            }
        params = self.params
        if self.batched_layers:
            params = self.base.unstack_parameters(params)
        merged = {**params, **self.buffers}
        return {name: tensor[k].detach().clone() for name, tensor in merged.items()}

    def stacked_state(self) -> dict:
        if self.vectorized:
            return {"params": self.params, "buffers": self.buffers}
        return {"models": [m.state_dict() for m in self.models]}

    def load_stacked_state(self, state: dict) -> None:
        with torch.no_grad():
            if self.vectorized:
                for group in ("params", "buffers"):
                    for name, tensor in getattr(self, group).items():
                        tensor.copy_(state[group][name])
            else:
                for model, sd in zip(self.models, state["models"], strict=True):
                    model.load_state_dict(sd)


# ---------------------------------------------------------------- checkpoints


class _StopRequest:
    """Turns SIGTERM (what SLURM sends before it kills) and SIGINT into a flag."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _load_checkpoint(path: Path, fingerprint: str):
    """The checkpoint at `path` if it belongs to this fingerprint; else set it aside."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        why = None
        if state.get("fingerprint") != fingerprint:
            why = "belongs to another config, code version or bundle layout"
    except Exception as err:  # truncated or foreign file
        state, why = None, f"is unreadable ({err!r})"
    if why:
        aside = path.with_name(f"{path.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        log.warning(
            "checkpoint %s %s; moved aside to %s and training from scratch",
            path,
            why,
            aside.name,
        )
        return None
    return state


# ---------------------------------------------------------------- the loop


def _epoch_permutations(generators, n: int, device):
    return [torch.randperm(n, generator=g).to(device) for g in generators]


def _batch(data_x, data_y, perms, start, batch_size):
    """This step's samples, one batch per seed group: x (G, B, ...), y (G, B)."""
    idx = [perm[start : start + batch_size] for perm in perms]
    return _stack([data_x[i] for i in idx]), _stack([data_y[i] for i in idx])


def _noise(model_settings, generators, batch, device):
    """Per-model masking noise (K, B, patches), or None for unmasked models."""
    if model_settings.get("mask_ratio", 0.0) <= 0:
        return None
    side = model_settings["input_shape"][-1] // model_settings["patch_size"]
    return torch.stack(
        [torch.rand(batch, side * side, generator=g) for g in generators]
    ).to(device)


def train_bundle(
    members: list[Member],
    data: PreparedData,
    model_settings: dict,
    settings: TrainSettings,
    *,
    vectorize: bool = True,
    checkpoint_path=None,
    fingerprint: str = "",
    device: torch.device | None = None,
    eval_batch_size: int = 4096,
) -> list[MemberResult]:
    """Train every member of a bundle; return each one's weights and history.

    Raises NonFiniteLossError when a member's loss stops being finite and
    TrainingInterrupted after writing a checkpoint on SIGTERM/SIGINT.
    """
    device = device or data.train.x.device
    k = len(members)
    lams = torch.tensor([m.lam for m in members], dtype=torch.float32, device=device)

    # Randomness: batch order per seed (shared by same-seed members), noise per member.
    seeds = sorted({m.seed for m in members})
    group_of = [seeds.index(m.seed) for m in members]
    order_gens = [torch.Generator().manual_seed(s) for s in seeds]
    noise_gens = [torch.Generator().manual_seed(m.seed + 7919) for m in members]

    # Models: each initialised from its own seed, exactly as if trained alone.
    models = [init_model(model_settings, m.seed).to(device) for m in members]
    stack = ModelStack(models, vectorize, group_of)
    # fused: one kernel per step for all parameters (3x faster than the loop on CPU)
    optimizer = torch.optim.Adam(
        stack.parameters(),
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        fused=True,
    )

    n_train = len(data.train)
    steps = math.ceil(n_train / settings.batch_size)
    epoch, step, elapsed = 0, 0, 0.0
    perms = None  # this epoch's batch order per seed
    sums = None  # this epoch's running (loss, mse, ce) sums, (3, K)
    history: list[list[dict]] = [[] for _ in members]

    # Resume: everything a bit-exact continuation needs, if a checkpoint matches.
    path = Path(checkpoint_path) if checkpoint_path else None
    state = _load_checkpoint(path, fingerprint) if path else None
    if state is not None:
        stack.load_stacked_state(state["stack"])
        optimizer.load_state_dict(state["optimizer"])
        for g, s in zip(order_gens + noise_gens, state["generators"], strict=True):
            g.set_state(s)
        torch.set_rng_state(state["torch_rng"])
        epoch, step, elapsed = state["epoch"], state["step"], state["elapsed"]
        if state["perms"] is not None:
            perms = [p.to(device) for p in state["perms"]]
            sums = state["sums"].to(device)
        history = state["history"]
        log.info("resumed from %s at epoch %d, step %d", path, epoch + 1, step)

    def save_checkpoint():
        save_torch(
            path,
            {
                "fingerprint": fingerprint,
                "members": [m.name for m in members],
                "stack": stack.stacked_state(),
                "optimizer": optimizer.state_dict(),
                "generators": [g.get_state() for g in order_gens + noise_gens],
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch,
                "step": step,
                "elapsed": elapsed,
                "perms": None if perms is None else [p.cpu() for p in perms],
                "sums": None if sums is None else sums.cpu(),
                "history": history,
            },
        )

    log.info(
        "training %d run(s) for %d epochs of %d steps on %s (%s)",
        k,
        settings.epochs,
        steps,
        device,
        "stacked, vmap" if stack.vectorized else "one module per run",
    )
    show_progress = sys.stderr.isatty()
    with _StopRequest() as stop:
        while epoch < settings.epochs:
            started = time.perf_counter()
            if perms is None:
                perms = _epoch_permutations(order_gens, n_train, device)
                sums = torch.zeros(3, k, device=device)
            bar = tqdm(
                range(step, steps),
                desc=f"epoch {epoch + 1}/{settings.epochs}",
                disable=not show_progress,
                leave=False,
            )
            for step in bar:
                # batch: slices of this epoch's permutation
                x, y = _batch(
                    data.train.x,
                    data.train.y,
                    perms,
                    step * settings.batch_size,
                    settings.batch_size,
                )
                batch = y.shape[-1]
                noise = _noise(model_settings, noise_gens, batch, device)

                # forward and loss: every model's own lam-weighted loss
                total, mse, ce = stack.losses(x, y, lams, noise)

                # backward and step: the sum separates, each model gets its gradient
                optimizer.zero_grad(set_to_none=True)
                total.sum().backward()
                optimizer.step()

                # record: sums weighted by batch size give exact epoch means
                sums += torch.stack([total, mse, ce]).detach() * batch
                if stop.signal:
                    step += 1
                    elapsed += time.perf_counter() - started
                    if path:
                        save_checkpoint()
                    raise TrainingInterrupted(
                        f"{stop.signal} in epoch {epoch + 1} after step {step}; "
                        + (f"checkpoint written to {path}" if path else "no checkpoint")
                    )

            # epoch end: validation, finiteness, history, checkpoint
            means = (sums / n_train).cpu()
            val_acc, val_mse = stack.score(data.val.x, data.val.y, eval_batch_size)
            elapsed += time.perf_counter() - started
            for i, member in enumerate(members):
                if not all(math.isfinite(v) for v in means[:, i].tolist()):
                    last = history[i][-1] if history[i] else "none (first epoch)"
                    raise NonFiniteLossError(
                        f"run {member.name}: loss is not finite in epoch {epoch + 1} "
                        f"(loss {means[0, i]:.4g}, mse {means[1, i]:.4g}, "
                        f"ce {means[2, i]:.4g}); last finite epoch: {last}"
                    )
                history[i].append(
                    {
                        "epoch": epoch + 1,
                        "loss": means[0, i].item(),
                        "mse": means[1, i].item(),
                        "ce": means[2, i].item(),
                        "val_accuracy": val_acc[i].item(),
                        "val_mse": val_mse[i].item(),
                        "seconds": elapsed,
                    }
                )
            log.info(
                "epoch %3d | %s",
                epoch + 1,
                " | ".join(
                    f"lam {m.lam:g} s{m.seed}: loss {h[-1]['loss']:.4f} "
                    f"val acc {h[-1]['val_accuracy']:.3f} mse {h[-1]['val_mse']:.4f}"
                    for m, h in zip(members, history, strict=True)
                ),
            )
            epoch, step, perms, sums = epoch + 1, 0, None, None
            if path:
                save_checkpoint()

    return [
        MemberResult(
            member=m, state_dict=stack.member_state_dict(i), history=history[i]
        )
        for i, m in enumerate(members)
    ]


# ---------------------------------------------------------------- the workflow job


def train_job(
    *,
    prepared,
    runs: list[dict],
    outputs: dict,
    model_settings: dict,
    train_settings: dict,
    vectorize: bool,
    device: str = "auto",
    deterministic: bool = False,
    checkpoint=None,
    fingerprint: str = "",
    fingerprint_parts: dict | None = None,
    threads: int = 1,
    eval_batch_size: int = 4096,
) -> None:
    """Train one bundle and write each run's model, history and run record.

    `runs` are `Run.as_dict()` plus a "name"; `outputs[name]` maps "model",
    "history" and "info" to that run's output paths.
    """
    torch.set_num_threads(threads)
    set_determinism(deterministic)
    torch_device = select_device(device)
    data = load_prepared(prepared, torch_device)
    members = [Member(r["name"], r["lam"], r["seed"]) for r in runs]
    settings = TrainSettings(**train_settings)
    log.info(
        "bundle of %d run(s): %s", len(members), ", ".join(m.name for m in members)
    )
    log.info(
        "model %s | train %s | %d parameters per run",
        model_settings,
        train_settings,
        count_parameters(build_model(**model_settings)),
    )

    started = time.perf_counter()
    results = train_bundle(
        members,
        data,
        model_settings,
        settings,
        vectorize=vectorize,
        checkpoint_path=checkpoint,
        # a checkpoint fits only the same settings, code, members and layout
        fingerprint=f"{fingerprint}|vectorize={vectorize}|"
        + ",".join(m.name for m in members),
        device=torch_device,
        eval_batch_size=eval_batch_size,
    )
    wall = time.perf_counter() - started
    environment = {**run_environment(torch_device), **peak_memory_mb(torch_device)}

    # Outputs: one directory per run, each file written atomically.
    for run, result in zip(runs, results, strict=True):
        paths = outputs[run["name"]]
        seconds = result.history[-1]["seconds"] if result.history else 0.0
        save_torch(
            paths["model"],
            {
                "model_settings": model_settings,
                "state_dict": result.state_dict,
                "run": run,
                "fingerprint": fingerprint,
            },
        )
        save_csv(paths["history"], pd.DataFrame(result.history))
        write_json(
            paths["info"],
            {
                "run": run,
                "model": model_settings,
                "train": train_settings,
                "parameters": count_parameters(build_model(**model_settings)),
                "bundle_size": len(runs),
                "vectorized": vectorize and len(runs) > 1,
                # the bundle trains its runs together: each gets an equal share
                "train_seconds": seconds / len(runs),
                "bundle_seconds": seconds,
                "job_wall_seconds": wall,
                "fingerprint": fingerprint,
                "fingerprint_parts": fingerprint_parts,
                "prepared": str(prepared),  # for `cremodels.explain`
                "environment": environment,
            },
        )
    if checkpoint:
        Path(checkpoint).unlink(missing_ok=True)
