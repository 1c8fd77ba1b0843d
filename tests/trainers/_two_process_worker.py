"""Run by test_entropy_grpo.py: two real processes (gloo, accelerate) compute the batch-wide selections on their
halves of a batch through ``AccelerateGroup``; each saves its result to ``OUT/r<rank>.pt``.

python _two_process_worker.py PORT OUT
"""

from __future__ import annotations

import os
import sys

import torch
import torch.multiprocessing as mp


def batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    data = {
        "ent": torch.rand(8, 10, generator=gen) * 3,
        "logps": -torch.rand(8, 10, generator=gen) * 3,
        "adv": torch.randn(8, generator=gen),
        "mask": (torch.rand(8, 10, generator=gen) > 0.3).long(),
    }
    data["mask"][:4, 7:] = 0  # rank 0 holds fewer valid tokens
    return data


def selections(d: dict[str, torch.Tensor], group: object) -> torch.Tensor:
    from hf_tokens.trainers.entropy_grpo.loss import (
        clip_cov_mask,
        entropy_quantile_mask,
        kl_cov_mask,
        token_covariance,
    )

    cov = token_covariance(d["logps"], d["adv"], d["mask"], group=group)
    return torch.stack(
        [
            cov,
            entropy_quantile_mask(d["ent"], d["mask"], 0.2, group=group).float(),
            kl_cov_mask(cov, d["mask"], ratio=0.1, group=group).float(),
            clip_cov_mask(
                cov, d["mask"], ratio=0.1, low=0.1, high=5.0, generator=torch.Generator().manual_seed(1), group=group
            ).float(),
        ]
    )


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank)
    )
    from accelerate import Accelerator

    from hf_tokens.trainers.entropy_grpo.trainer import AccelerateGroup

    group = AccelerateGroup(Accelerator(cpu=True))
    assert group.rank == rank and group.accelerator.num_processes == 2
    half = slice(0, 4) if rank == 0 else slice(4, 8)
    torch.save(selections({k: v[half] for k, v in batch().items()}, group), f"{out}/r{rank}.pt")


if __name__ == "__main__":
    mp.spawn(worker, args=(int(sys.argv[1]), sys.argv[2]), nprocs=2)
