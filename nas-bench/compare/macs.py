"""Multiply-adds of the forward pass of the networks `cells.sh` compares, per image.

Counts every convolution and linear layer of PyTorch's copy of each network (built by
`pytorch.py`, the same skeletons) with forward hooks: a convolution's output values times
its (in_channels / groups) * kh * kw, a linear layer's outputs times its inputs. A training
step is about 3x the forward count (forward, input gradient, weight gradient).

Usage: python3 nas-bench/compare/macs.py   (needs torch, as pytorch.py)
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch as P  # noqa: E402

NETWORKS = {
    "best": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "conv3": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "pool": "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|",
    "macro": "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity",
}


def count(model, shape):
    macs = {"conv": 0, "depthwise": 0, "linear": 0}

    def hook(m, _inputs, out):
        if isinstance(m, nn.Conv2d):
            per_output = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            macs["depthwise" if m.groups > 1 else "conv"] += out.numel() * per_output
        elif isinstance(m, nn.Linear):
            macs["linear"] += out.numel() * m.in_features

    for m in model.modules():
        m.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    return macs


def main():
    print("network input  forward M multiply-adds (conv / depthwise / linear)  total")
    for name, arch in NETWORKS.items():
        for channels, side in [(1, 28), (3, 32)]:
            if name == "macro":
                model = P.macro_network(nn, arch, channels, 32, 1280, 10)
            else:
                model = P.nb201_network(nn, torch, arch, channels, 16, 5, 3, 10)
            m = count(model, (channels, side, side))
            parts = " / ".join(f"{m[k] / 1e6:.2f}" for k in ("conv", "depthwise", "linear"))
            print(f"{name:7} {side}x{side}  {parts:>40}  {sum(m.values()) / 1e6:.1f}")


if __name__ == "__main__":
    main()
