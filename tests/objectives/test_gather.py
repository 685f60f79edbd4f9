"""InfoNCE under DDP: two gloo CPU processes give the loss and gradients of one process."""

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from polymodal.objectives import InfoNCELoss, gather_features


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)


def _one_process() -> dict[str, torch.Tensor]:
    image, text = (x.clone().requires_grad_(True) for x in _global_batch())
    loss = InfoNCELoss()
    out = loss({"image": image, "text": text})
    out.loss.backward()
    return {"loss": out.loss.detach(), "image": image.grad, "text": text.grad, "scale": loss.logit_scale.grad}


def _worker(rank: int, world: int, port: int, path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        image, text = _global_batch()
        local = slice(rank * 4, rank * 4 + 4)
        image = image[local].clone().requires_grad_(True)
        text = text[local].clone().requires_grad_(True)
        loss = InfoNCELoss()
        out = loss({"image": image, "text": text})
        out.loss.backward()
        result = {
            "loss": out.loss.detach(),
            "image": image.grad,
            "text": text.grad,
            "scale": loss.logit_scale.grad,
            "offset": out.offset,
        }
        torch.save(result, f"{path}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gather_is_a_no_op_without_a_process_group() -> None:
    x = torch.randn(3, 2)
    gathered, offset = gather_features(x)
    assert gathered is x and offset == 0


def test_two_gloo_ranks_match_one_process(tmp_path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    single = _one_process()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for r, result in enumerate(ranks):
        assert result["offset"] == 4 * r
        assert torch.allclose(result["loss"], single["loss"], atol=1e-6)
        assert torch.allclose(result["scale"], single["scale"], atol=1e-6)
        assert torch.allclose(result["image"], single["image"][4 * r : 4 * r + 4], atol=1e-6)
        assert torch.allclose(result["text"], single["text"][4 * r : 4 * r + 4], atol=1e-6)
