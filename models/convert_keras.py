"""Converts the Keras `facenet_keras.h5` (Sandberg 20170512-110547) into InceptionResnetV1 weights.

Every weighted Keras layer must map onto a PyTorch parameter and every parameter must be filled:
anything left over on either side is an error, because a silently half-loaded network would
still produce embeddings, just wrong ones.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from .facenet import build_facenet


class ConversionError(RuntimeError):
    """The Keras file does not map one to one onto the network."""


def _conv_names() -> dict[str, str]:
    """PyTorch module path of every BasicConv2d → the TF-slim scope of its Keras layer."""
    names = {
        "conv2d_1a": "Conv2d_1a_3x3",
        "conv2d_2a": "Conv2d_2a_3x3",
        "conv2d_2b": "Conv2d_2b_3x3",
        "conv2d_3b": "Conv2d_3b_1x1",
        "conv2d_4a": "Conv2d_4a_3x3",
        "conv2d_4b": "Conv2d_4b_3x3",
        "mixed_6a.branch0": "Mixed_6a_Branch_0_Conv2d_1a_3x3",
        "mixed_6a.branch1.0": "Mixed_6a_Branch_1_Conv2d_0a_1x1",
        "mixed_6a.branch1.1": "Mixed_6a_Branch_1_Conv2d_0b_3x3",
        "mixed_6a.branch1.2": "Mixed_6a_Branch_1_Conv2d_1a_3x3",
        "mixed_7a.branch0.0": "Mixed_7a_Branch_0_Conv2d_0a_1x1",
        "mixed_7a.branch0.1": "Mixed_7a_Branch_0_Conv2d_1a_3x3",
        "mixed_7a.branch1.0": "Mixed_7a_Branch_1_Conv2d_0a_1x1",
        "mixed_7a.branch1.1": "Mixed_7a_Branch_1_Conv2d_1a_3x3",
        "mixed_7a.branch2.0": "Mixed_7a_Branch_2_Conv2d_0a_1x1",
        "mixed_7a.branch2.1": "Mixed_7a_Branch_2_Conv2d_0b_3x3",
        "mixed_7a.branch2.2": "Mixed_7a_Branch_2_Conv2d_1a_3x3",
    }
    blocks = {
        # (torch container, keras prefix, count, branch layout)
        "repeat_1": ("Block35", 5, {"branch0": "Branch_0_Conv2d_1x1",
                                    "branch1.0": "Branch_1_Conv2d_0a_1x1",
                                    "branch1.1": "Branch_1_Conv2d_0b_3x3",
                                    "branch2.0": "Branch_2_Conv2d_0a_1x1",
                                    "branch2.1": "Branch_2_Conv2d_0b_3x3",
                                    "branch2.2": "Branch_2_Conv2d_0c_3x3"}),
        "repeat_2": ("Block17", 10, {"branch0": "Branch_0_Conv2d_1x1",
                                     "branch1.0": "Branch_1_Conv2d_0a_1x1",
                                     "branch1.1": "Branch_1_Conv2d_0b_1x7",
                                     "branch1.2": "Branch_1_Conv2d_0c_7x1"}),
        "repeat_3": ("Block8", 5, {"branch0": "Branch_0_Conv2d_1x1",
                                   "branch1.0": "Branch_1_Conv2d_0a_1x1",
                                   "branch1.1": "Branch_1_Conv2d_0b_1x3",
                                   "branch1.2": "Branch_1_Conv2d_0c_3x1"}),
    }
    for container, (prefix, count, layout) in blocks.items():
        for i in range(count):
            for branch, scope in layout.items():
                names[f"{container}.{i}.{branch}"] = f"{prefix}_{i + 1}_{scope}"
    for branch, scope in blocks["repeat_3"][2].items():
        names[f"block8.{branch}"] = f"Block8_6_{scope}"
    return names


def _up_convs() -> dict[str, str]:
    """The 1x1 up-projection (with bias) that closes each residual block."""
    ups = {f"repeat_1.{i}.conv2d": f"Block35_{i + 1}_Conv2d_1x1" for i in range(5)}
    ups |= {f"repeat_2.{i}.conv2d": f"Block17_{i + 1}_Conv2d_1x1" for i in range(10)}
    ups |= {f"repeat_3.{i}.conv2d": f"Block8_{i + 1}_Conv2d_1x1" for i in range(5)}
    ups["block8.conv2d"] = "Block8_6_Conv2d_1x1"
    return ups


def _kernel(arr: np.ndarray) -> torch.Tensor:
    # Keras stores (kh, kw, in, out); PyTorch wants (out, in, kh, kw).
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(3, 2, 0, 1)))


def convert_keras_h5(path: Path) -> dict[str, torch.Tensor]:
    """Return a state dict for `build_facenet(128)` built from the Keras file at `path`."""
    model = build_facenet(128)
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise ConversionError(f"{path}: no model_weights group; not a Keras model file")
        weights = f["model_weights"]

        def layer(name: str) -> dict[str, np.ndarray]:
            if name not in weights or name not in weights[name]:
                raise ConversionError(f"Keras layer {name} is missing")
            used.add(name)
            group = weights[name][name]
            return {key: np.asarray(group[key]) for key in group}

        def put_bn(prefix: str, keras_name: str) -> None:
            bn = layer(keras_name)
            # These Keras batch norms have no gamma (scale = 1); eps is 0.001 on both sides.
            out[f"{prefix}.weight"] = torch.ones_like(target[f"{prefix}.weight"])
            out[f"{prefix}.bias"] = torch.from_numpy(bn["beta:0"])
            out[f"{prefix}.running_mean"] = torch.from_numpy(bn["moving_mean:0"])
            out[f"{prefix}.running_var"] = torch.from_numpy(bn["moving_variance:0"])
            out[f"{prefix}.num_batches_tracked"] = torch.tensor(0)

        for torch_name, keras_name in _conv_names().items():
            out[f"{torch_name}.conv.weight"] = _kernel(layer(keras_name)["kernel:0"])
            put_bn(f"{torch_name}.bn", f"{keras_name}_BatchNorm")
        for torch_name, keras_name in _up_convs().items():
            conv = layer(keras_name)
            out[f"{torch_name}.weight"] = _kernel(conv["kernel:0"])
            out[f"{torch_name}.bias"] = torch.from_numpy(conv["bias:0"])
        out["last_linear.weight"] = torch.from_numpy(np.ascontiguousarray(layer("Bottleneck")["kernel:0"].T))
        put_bn("last_bn", "Bottleneck_BatchNorm")

        weighted = {name for name in weights if len(weights[name].keys()) > 0}

    left_in_file = sorted(weighted - used)
    if left_in_file:
        raise ConversionError(f"{len(left_in_file)} Keras layers were not mapped, e.g. {left_in_file[:3]}")
    missing = sorted(set(target) - set(out))
    extra = sorted(set(out) - set(target))
    if missing or extra:
        raise ConversionError(f"parameter mismatch: missing {missing[:3]}, unexpected {extra[:3]}")
    for key, value in out.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ConversionError(f"{key}: shape {tuple(value.shape)} != {tuple(target[key].shape)}")
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in out.items()}
