"""The training loop: seeded, resumable, DDP-aware, with accumulation, clipping and bf16.

One :class:`Trainer` runs one :class:`~polymodal.training.tasks.TrainingTask` into a run
directory (``config.yaml``, ``checkpoints/``, ``metrics.jsonl``, ``metrics.json``,
``report.md`` + plots, TensorBoard events). On CPU a run is bit-for-bit repeatable, and a
run killed at any moment and resumed ends with exactly the weights of an uninterrupted one:
the checkpoint holds every state the loop consumes (weights, AdamW moments, scheduler,
torch/numpy/Python RNGs, the sampler's epoch and position) and the data order is a pure
function of that state.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from polymodal._files import read_json
from polymodal.errors import CheckpointError, ConfigError, PolymodalError
from polymodal.training.checkpointing import (
    atomic_write_text,
    capture_rng,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    newest_intact,
    prune_checkpoints,
    read_best,
    restore_rng,
    save_checkpoint,
    write_best,
)
from polymodal.training.config import RunConfig, config_to_yaml
from polymodal.training.ema import ModelEMA
from polymodal.training.distributed import DistInfo, all_reduce_mean, barrier, setup_distributed, wrap_model
from polymodal.training.logging import MetricsLog, plot_losses
from polymodal.training.optim import build_optimizer, build_scheduler
from polymodal.training.run_folder import PreviousRun, RunLock, check_output_dir
from polymodal.training.sampler import GlobalBatchSampler
from polymodal.training.tasks import TrainingTask, get_task

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "seed_everything"]


class TrainingDiverged(PolymodalError, RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    run_dir: Path
    steps: int
    final_loss: float
    train_seconds: float
    resumed_from: int | None
    model_dir: Path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision != "bf16":
        return contextlib.nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@contextlib.contextmanager
def _config_boundary(section: str):
    """Errors of a task's constructors that a config value caused (a TypeError or ValueError
    from a part's ``__init__``) become a :class:`ConfigError` naming the config section."""
    try:
        yield
    except PolymodalError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise ConfigError(section, f"a {section} config the task can build", f"{type(exc).__name__}: {exc}") from exc


class Trainer:
    """Trains ``config.task`` into ``config.output_dir``.

    Args:
        config: a validated :class:`RunConfig`.
        resume: continue from the latest complete checkpoint in the run directory, if any.
        dist: the process's place in a DDP run (from :func:`setup_distributed` by default).
    """

    def __init__(
        self, config: RunConfig, *, resume: bool = False, overwrite: bool = False, dist: DistInfo | None = None
    ) -> None:
        self.config = config
        self.resume = resume
        self.overwrite = overwrite
        self.dist = dist or setup_distributed()
        self.run_dir = Path(config.output_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"

    # --- helpers ---------------------------------------------------------------------------
    def _trainer_state(self, optimizer, scheduler, sampler, extra: dict) -> dict:
        return {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": capture_rng(),
            "sampler": sampler.state_dict(),
            **extra,
        }

    def _evaluate(self, task: TrainingTask, model: nn.Module, ema: ModelEMA | None) -> dict[str, float]:
        # Evaluation must not perturb training: keep the RNG streams and the train mode as they were.
        rng = capture_rng()
        model.eval()
        with torch.no_grad(), (ema.applied(model) if ema is not None else contextlib.nullcontext()):
            values = task.evaluate(model)
        model.train()
        restore_rng(rng)
        return values

    @staticmethod
    def _say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # --- the loop --------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Check everything that can be checked, then take the run folder's lock and train.

        Nothing is written before the config, the output folder, the task's data (the
        evaluation split included) and the model have been checked. With ``overwrite``,
        an old run in the folder is moved aside and only deleted once the new run has
        written its first checkpoint; a failure before that puts it back.
        """
        info = self.dist
        if info.is_main:
            self.run_dir = check_output_dir(self.config.output_dir, overwrite=self.overwrite, resume=self.resume)
            self.ckpt_dir = self.run_dir / "checkpoints"
        cfg, tcfg = self.config, self.config.training
        if tcfg.threads:
            torch.set_num_threads(tcfg.threads)
        micro = tcfg.batch_size // tcfg.grad_accum
        if micro * tcfg.grad_accum != tcfg.batch_size or micro % info.world_size:
            raise ConfigError(
                "training.batch_size",
                f"a multiple of grad_accum × world size ({tcfg.grad_accum} × {info.world_size})",
                tcfg.batch_size,
            )
        seed_everything(tcfg.seed)
        task = get_task(cfg.task)(cfg)
        with _config_boundary("model"):
            model = task.build_model().to(info.device)
        with _config_boundary("data"):
            data = task.train_data()
            task.check_data()
        if tcfg.checkpoint.best_metric and not tcfg.eval_every:
            raise ConfigError("training.eval_every", f"a step interval (checkpoint.best_metric={tcfg.checkpoint.best_metric!r} needs evaluations)", None)
        sampler = GlobalBatchSampler(len(data), tcfg.seed, rank=info.rank, world_size=info.world_size)
        optimizer = build_optimizer(model, cfg.optimizer)
        scheduler = build_scheduler(optimizer, cfg.schedule, tcfg.steps)
        ema = ModelEMA(model, tcfg.ema_decay) if tcfg.ema_decay else None
        for message in task.warnings:
            self._say(f"warning: {message}")

        lock = RunLock(self.run_dir, log=self._say) if info.is_main else None
        previous = PreviousRun(self.run_dir)
        if lock is not None:
            lock.acquire()
        try:
            if info.is_main:
                if previous.recover():
                    self._say(f"warning: {self.run_dir}: put back the run that an interrupted --overwrite had moved aside")
                if self.overwrite and not self.resume:
                    previous.stash()
            return self._fit(task, model, data, sampler, optimizer, scheduler, ema, micro, previous)
        except BaseException:
            if info.is_main and previous.active:
                previous.restore()  # the new run never wrote a checkpoint: the old one is worth more
                self._say(f"note: {self.run_dir}: the new run failed before its first checkpoint; the previous run is back in place")
            raise
        finally:
            if lock is not None:
                lock.release()

    def _fit(self, task, model, data, sampler, optimizer, scheduler, ema, micro, previous: PreviousRun) -> TrainResult:
        cfg, tcfg, info = self.config, self.config.training, self.dist
        step, elapsed_before, best = 0, 0.0, None
        resumed_from, resumed_loss = None, float("nan")
        latest = newest_intact(self.ckpt_dir, warn=self._say) if self.resume else None
        if latest is not None:
            state = load_checkpoint(latest, model, map_location=info.device)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            sampler.load_state_dict(state["sampler"])
            restore_rng(state["rng"])
            if ema is not None:
                if "ema" not in state:
                    raise CheckpointError(f"{latest.path}: ema", "the EMA weights (training.ema_decay is set)", "a checkpoint without them")
                ema.load_state_dict(state["ema"])
            step, elapsed_before = int(state["step"]), float(state.get("elapsed", 0.0))
            resumed_loss = float(state.get("loss", float("nan")))
            best = state.get("best")
            resumed_from = step
            if info.is_main:
                for newer in list_checkpoints(self.ckpt_dir):
                    if newer.step > step:  # damaged ones skipped above: the resumed run rewrites them
                        shutil.rmtree(newer.path, ignore_errors=True)
        elif self.resume and info.is_main:
            self._say(f"note: {self.ckpt_dir}: no checkpoint to resume from; starting from step 0")
        if info.is_main:
            atomic_write_text(self.run_dir / "config.yaml", config_to_yaml(cfg))
        barrier(info)

        ddp_model = wrap_model(model, info, find_unused_parameters=task.unused_parameters)
        model.train()
        log = MetricsLog(self.run_dir, tensorboard=cfg.logging.tensorboard, resume_step=step) if info.is_main else None
        bar = None
        if info.is_main and cfg.logging.progress:
            from tqdm import tqdm

            # A log file keeps every redraw: there, redraw seldom (the demo: 9 lines for 450 steps).
            interactive = sys.stderr.isatty()
            bar = tqdm(
                total=tcfg.steps, initial=step, desc=cfg.task, unit="step",
                dynamic_ncols=interactive, mininterval=1.0 if interactive else 30.0,
            )

        def checkpoint(at: int, elapsed: float) -> None:
            if info.is_main:
                extra = {"elapsed": elapsed, "best": best, "loss": loss_value}
                if ema is not None:
                    extra["ema"] = ema.state_dict()
                save_checkpoint(self.ckpt_dir, at, model, self._trainer_state(optimizer, scheduler, sampler, extra))
                prune_checkpoints(self.ckpt_dir, tcfg.checkpoint.keep_last)
                previous.discard()  # the new run can be resumed now: the replaced one may go
            barrier(info)

        start = time.perf_counter()
        loss_value = resumed_loss  # a run resumed at its end reports the loss it ended with
        try:
            while step < tcfg.steps:
                optimizer.zero_grad(set_to_none=True)
                total = torch.zeros((), device=info.device)
                terms: dict[str, float] = {}
                for k in range(tcfg.grad_accum):
                    batch = data.get(sampler.next_local(micro))
                    batch = batch.to(info.device) if hasattr(batch, "to") else batch
                    sync = k == tcfg.grad_accum - 1 or not info.enabled
                    ctx = contextlib.nullcontext() if sync else ddp_model.no_sync()
                    with ctx:
                        with _autocast(info.device, tcfg.precision):
                            out = task.loss(ddp_model, batch)
                        (out.loss.float() / tcfg.grad_accum).backward()
                    total += out.loss.detach().float() / tcfg.grad_accum
                    for key, value in {**out.terms, **out.metrics}.items():
                        terms[key] = terms.get(key, 0.0) + float(value) / tcfg.grad_accum
                loss_value = float(all_reduce_mean(total, info))
                if not math.isfinite(loss_value):
                    last = latest_checkpoint(self.ckpt_dir) if info.is_main else None
                    where = f"the last good checkpoint is {last.path}" if last else "no checkpoint was written yet"
                    raise TrainingDiverged(
                        f"loss became {loss_value} at step {step + 1}; stopped before updating the weights "
                        f"({where}). Lower optimizer.lr or enable training.clip_grad_norm, then --resume."
                    )
                grad_norm = None
                if tcfg.clip_grad_norm is not None:
                    params = [p for p in model.parameters() if p.requires_grad]
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, tcfg.clip_grad_norm))
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update(model)
                step += 1
                elapsed = elapsed_before + time.perf_counter() - start

                if log is not None and (step % cfg.logging.log_every == 0 or step == tcfg.steps):
                    row = {"loss": loss_value, "lr": lr, **terms, "elapsed": round(elapsed, 3)}
                    if grad_norm is not None:
                        row["grad_norm"] = grad_norm
                    log.log(step, row)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)  # drawn by update's redraw
                    bar.update(1)
                if tcfg.eval_every and (step % tcfg.eval_every == 0 or step == tcfg.steps):
                    # Every rank evaluates (cheaply) so all take the same best-checkpoint decision.
                    values = self._evaluate(task, model, ema)
                    if log is not None and values:
                        log.log(step, values, split="eval")
                    metric = tcfg.checkpoint.best_metric
                    if metric and metric in values:
                        better = best is None or (
                            values[metric] > best["value"] if tcfg.checkpoint.best_mode == "max" else values[metric] < best["value"]
                        )
                        if better:
                            best = {"step": step, "metric": metric, "value": values[metric]}
                            checkpoint(step, elapsed)
                            if info.is_main:
                                write_best(self.ckpt_dir, step, metric, values[metric])
                                prune_checkpoints(self.ckpt_dir, tcfg.checkpoint.keep_last)
                if tcfg.checkpoint.every and step % tcfg.checkpoint.every == 0 and step < tcfg.steps:
                    checkpoint(step, elapsed)
            elapsed = elapsed_before + time.perf_counter() - start
            checkpoint(step, elapsed)
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()

        model_dir = self.run_dir / "model"
        if info.is_main:
            self._export(task, model, ema, step)
            self._write_summary(task, step, loss_value, elapsed, resumed_from)
        barrier(info)
        return TrainResult(self.run_dir, step, loss_value, elapsed, resumed_from, model_dir)

    def _export(self, task: TrainingTask, model: nn.Module, ema: ModelEMA | None, step: int) -> None:
        """``model/``: the weights best on the evaluation split when ``checkpoint.best_metric``
        chose a step before the last, the last weights otherwise; ``model_last/``: the last
        weights whenever ``model/`` holds an earlier step's."""
        model.eval()
        last_dir, best = self.run_dir / "model_last", read_best(self.ckpt_dir)
        best_info = next((c for c in list_checkpoints(self.ckpt_dir) if best and c.step == best["step"]), None)
        if best_info is None or best_info.step == step:
            shutil.rmtree(last_dir, ignore_errors=True)  # a resumed run's stale copy
            with ema.applied(model) if ema is not None else contextlib.nullcontext():
                task.export(model, self.run_dir / "model")
            return
        with ema.applied(model) if ema is not None else contextlib.nullcontext():
            task.export(model, last_dir)
        state = load_checkpoint(best_info, model, map_location=self.dist.device)
        if ema is not None:
            ema.load_state_dict(state["ema"])
        with ema.applied(model) if ema is not None else contextlib.nullcontext():
            task.export(model, self.run_dir / "model")

    def _write_summary(self, task: TrainingTask, steps: int, loss: float, seconds: float, resumed_from: int | None) -> None:
        path = self.run_dir / "metrics.json"
        try:
            figures = read_json(path) if path.exists() else {}
        except CheckpointError:
            figures = {}  # a damaged summary is rewritten whole below
        figures.update({"steps": steps, "final_loss": loss, "train_seconds": round(seconds, 2)})
        for key in [k for k in figures if k.startswith("best_")]:
            del figures[key]  # a resumed or replaced run's stale selection
        best = read_best(self.ckpt_dir)
        if best:
            figures[f"best_{best['metric']}"] = best["value"]
            figures["best_step"] = best["step"]
            if task.eval_split is not None:
                figures["best_split"] = task.eval_split
        if task.warnings:
            figures["warnings"] = list(task.warnings)
        atomic_write_text(path, json.dumps(figures, indent=2))
        plot = plot_losses(self.run_dir, self.run_dir / "loss.png")
        report = self.run_dir / "report.md"
        if not report.exists():
            lines = [
                f"# Run `{self.config.task}`",
                "",
                f"- steps: {steps}" + (f" (resumed from step {resumed_from})" if resumed_from else ""),
                f"- final training loss: {loss:.4f}",
                f"- training time: {seconds:.1f} s",
                "",
            ]
            if best:
                lines.insert(-1, f"- exported model: step {best['step']}, best {best['metric']} {best['value']:.4f} on the "
                             f"'{task.eval_split or 'evaluation'}' split (the last step's weights in model_last/)")
            lines += [f"- warning: {w}" for w in task.warnings]
            if plot:
                lines += ["", "![training loss](loss.png)", ""]
            atomic_write_text(report, "\n".join(lines) + "\n")
