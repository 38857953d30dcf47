"""The order in which a training run sees its batches: a pure function of (seed, position).

The paper counts iterations, not epochs. Batches come from an endless sampler whose order within
epoch ``e`` is a pure function of ``(seed, e)``, and the number of batches drawn alone fixes the
position, so a resumed job continues with exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from treemtl.errors import TreeMTLError


def seed_global_rngs(seed: int) -> None:
    """Seed the global RNGs that weight initialisation (and a search's Gumbel noise) draw from."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def epoch_order(num_items: int, seed: int, epoch: int) -> Tensor:
    """The permutation of epoch ``epoch``: a pure function of (seed, epoch), for exact resume."""
    entropy = np.random.SeedSequence([int(seed), int(epoch), 0x7EE]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))
    return torch.randperm(num_items, generator=generator)


class EpochBatchSampler(Sampler[list[int]]):
    """Endless batches: epoch after epoch of seeded permutations, starting at global batch ``start``.

    Every epoch has the same number of full batches (the remainder is dropped, as usual for
    iteration-based training), so global batch ``k`` is batch ``k % per_epoch`` of epoch
    ``k // per_epoch``. A dataset smaller than one batch yields all of it per batch.

    ``keyed``: item ``i`` of epoch ``e`` is yielded as the draw key ``e * num_items + i``, for
    datasets whose random augmentation is a function of the key (their ``keyed_draws``).
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int = 0, keyed: bool = False) -> None:
        if num_items < 1:
            raise TreeMTLError("the training split is empty")
        self.num_items = num_items
        self.batch_size = min(batch_size, num_items)
        self.seed = seed
        self.start = start
        self.keyed = keyed

    @property
    def batches_per_epoch(self) -> int:
        return self.num_items // self.batch_size

    def position(self, batch: int) -> tuple[int, int]:
        """(epoch, batch index inside the epoch) of global batch ``batch``."""
        return divmod(batch, self.batches_per_epoch)

    def __iter__(self) -> Iterator[list[int]]:
        batch = self.start
        epoch, index = self.position(batch)
        order = epoch_order(self.num_items, self.seed, epoch)
        while True:
            new_epoch, index = self.position(batch)
            if new_epoch != epoch:
                epoch = new_epoch
                order = epoch_order(self.num_items, self.seed, epoch)
            batch_items = order[index * self.batch_size : (index + 1) * self.batch_size]
            yield (batch_items + epoch * self.num_items if self.keyed else batch_items).tolist()
            batch += 1
