"""Builds the InceptionResnetV1 network for a given embedding size.

facenet-pytorch's network has a 512-d head; Sandberg's MS-Celeb model has a 128-d bottleneck
with no bias and a batch norm with eps 0.001, so the head is swapped for those.
"""

from __future__ import annotations

from facenet_pytorch import InceptionResnetV1
from torch import nn


def build_facenet(dim: int) -> nn.Module:
    model: nn.Module = InceptionResnetV1(pretrained=None, classify=False)
    if dim != 512:
        model.last_linear = nn.Linear(1792, dim, bias=False)
        model.last_bn = nn.BatchNorm1d(dim, eps=0.001, momentum=0.1, affine=True)
    # The 512-d checkpoints include `logits`; we never classify, so drop the layer.
    model.logits = nn.Identity()
    return model
