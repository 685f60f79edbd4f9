"""The main job's contrastive loss under DDP: two gloo ranks see the global batch's negatives."""

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from polymodal.recipes.digits_av.task import LossWeights, contrastive_loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _global_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
    return {
        "image": torch.randn(8, 6, generator=g),
        "audio": torch.randn(8, 6, generator=g),
        "image_captions": unit(torch.randn(8, 6, generator=g)),
        "audio_captions": unit(torch.randn(8, 6, generator=g)),
        "labels": torch.tensor([0, 1, 2, 0, 1, 2, 3, 3]),
    }


def _loss(batch: dict[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    image = batch["image"][rows].clone().requires_grad_(True)
    audio = batch["audio"][rows].clone().requires_grad_(True)
    scale = torch.tensor(14.0, requires_grad=True)
    loss, _ = contrastive_loss(
        image, audio, batch["image_captions"][rows], batch["audio_captions"][rows], batch["labels"][rows],
        scale, LossWeights(positives="label"),
    )
    loss.backward()
    return {"loss": loss.detach(), "image": image.grad, "audio": audio.grad, "scale": scale.grad}


def _worker(rank: int, world: int, port: int, path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.save(_loss(_global_batch(), slice(rank * 4, rank * 4 + 4)), f"{path}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_compute_the_global_loss_and_exact_local_gradients(tmp_path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    single = _loss(_global_batch(), slice(None))
    for r in range(2):
        rank = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
        rows = slice(4 * r, 4 * r + 4)
        assert torch.allclose(rank["loss"], single["loss"], atol=1e-6)
        assert torch.allclose(rank["scale"], single["scale"], atol=1e-5)
        assert torch.allclose(rank["image"], single["image"][rows], atol=1e-6)
        assert torch.allclose(rank["audio"], single["audio"][rows], atol=1e-6)
