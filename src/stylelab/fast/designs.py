"""The fast networks' designs, without torch: channels, kernels and strides of each
(:mod:`stylelab.fast.nets` builds them; the training options check sizes against them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """Channels and kinds of blocks of one transformer-network design."""

    name: str
    channels: tuple[int, int, int]  # after the 1st, 2nd and 3rd convolution
    first_kernel: int
    first_stride: int
    third_stride: int  # 2: the third convolution halves the size again (compact: 1/8), 1: not
    last_kernel: int
    separable_residuals: bool

    @property
    def stride(self) -> int:
        """The total stride: the first convolution's, the second's (2), the third's. Input
        sides must be multiples of it (training crops go in unpadded)."""
        return self.first_stride * 2 * self.third_stride

    @property
    def upsample_last(self) -> bool:
        """The output convolution is the last upsampling's when the first one strides."""
        return self.first_stride == 2


ARCHITECTURES = {
    "johnson": Architecture("johnson", (32, 64, 128), 9, 1, 2, 9, False),
    "compact": Architecture("compact", (16, 32, 64), 9, 2, 2, 3, True),
    "compact4": Architecture("compact4", (16, 32, 64), 9, 2, 1, 3, True),
}
