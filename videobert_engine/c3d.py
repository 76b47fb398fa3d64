"""C3D video tower (Tran et al. 2015, "Learning Spatiotemporal Features with 3D Convolutional Networks").

    clip (B, 3, 16, 112, 112)
      ↓ conv1a 64                  → pool1 (1,2,2)   (B, 64, 16, 56, 56)
      ↓ conv2a 128                 → pool2 (2,2,2)   (B, 128, 8, 28, 28)
      ↓ conv3a 256, conv3b 256     → pool3 (2,2,2)   (B, 256, 4, 14, 14)
      ↓ conv4a 512, conv4b 512     → pool4 (2,2,2)   (B, 512, 2, 7, 7)
      ↓ conv5a 512, conv5b 512     → pool5 (2,2,2), spatial padding 1  (B, 512, 1, 4, 4)   = forward_features
      ↓ flatten (or pool="max": global max over t, h, w) → fc6 4096 → fc7 4096   = forward_head(pre_logits=True)
        (pool="pyramid": the global max of every stage's output, pool1 … pool5, concatenated, is the feature)
      ↓ fc8 num_classes (487 for Sports-1M; absent when num_classes=0)  = forward_head()

Every conv is 3x3x3, stride 1, padding 1, followed by ReLU. Width-scaled presets change ``widths`` and ``fc_dim``
and add batch norm after each conv (``batch_norm=True``: they train from scratch, in few steps, on a CPU);
a clip shorter than 16 frames (or smaller than 112 px) skips the pooling steps that would shrink a side below 1.
``pool="max"`` makes the head position-free: "is there a red star anywhere" instead of "what is in each cell",
which generalizes from a few hundred videos where the flattened map memorizes where things were.
``pool="pyramid"`` also reads the early stages: colour and small parts are there after one or two convs, and
a head that sees them learns them in the few hundred steps a CPU demo trains, where through all eight convs
it takes thousands (lab/evaluation, "Embedding quality").
``frame_diff=True`` feeds conv1a six channels: the frame and its difference from the previous frame (zero for
the first), so what moves is in the input rather than something the first convs must learn to subtract.
``object_view=True`` takes clips at twice ``size`` and runs the convs on two views of each (views.py): the
frame, area-downscaled, and an object-centred glimpse; the head reads both views' features side by side.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from videobert_engine.config import C3DConfig
from videobert_engine.views import MOTION_FEATURES, frame_view, object_boxes, object_motion, object_view

# conv indices after which a pool follows, and whether that pool halves time
_POOLS = {0: False, 1: True, 3: True, 5: True, 7: True}

# input normalization of uint8 RGB frames (Kinetics statistics)
MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)


def _pool_plan(frames: int, size: int) -> tuple[list[nn.MaxPool3d], tuple[int, int, int]]:
    """The pooling layers for a (frames, size, size) input and the feature-map shape (t, h, w) after pool5."""
    pools, t, s = [], frames, size
    for i, halves_time in _POOLS.items():
        kt = 2 if halves_time and t >= 2 else 1
        ks = 2 if s >= 2 else 1
        pad = (0, 1, 1) if i == 7 and ks == 2 else (0, 0, 0)
        pools.append(nn.MaxPool3d(kernel_size=(kt, ks, ks), stride=(kt, ks, ks), padding=pad))
        t = (t - kt) // kt + 1
        s = (s + 2 * pad[1] - ks) // ks + 1
    return pools, (t, s, s)


class C3D(nn.Module):
    def __init__(self, config: C3DConfig):
        super().__init__()
        self.config = config
        pools, (t, h, w) = _pool_plan(config.frames, config.size)
        layers, c_in = [], 6 if config.frame_diff else 3
        for i, c_out in enumerate(config.widths):
            if config.batch_norm:
                layers += [
                    nn.Conv3d(c_in, c_out, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm3d(c_out),
                    nn.ReLU(inplace=True),
                ]
            else:
                layers += [nn.Conv3d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            if i in _POOLS:
                layers.append(pools.pop(0))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.feature_shape = (c_in, t, h, w)
        stage_widths = [config.widths[i] for i in _POOLS]
        fc6_in = {"flatten": c_in * t * h * w, "max": c_in, "pyramid": sum(stage_widths)}[config.pool]
        fc6_in *= 2 if config.object_view else 1
        if config.object_motion:
            if config.pool == "flatten":
                raise ValueError('object_motion needs a pooled head (pool="max" or "pyramid")')
            fc6_in += MOTION_FEATURES
        self.fc6 = nn.Linear(fc6_in, config.fc_dim)
        self.fc7 = nn.Linear(config.fc_dim, config.fc_dim)
        self.drop = nn.Dropout(config.dropout)
        self.fc8 = nn.Linear(config.fc_dim, config.num_classes) if config.num_classes else nn.Identity()
        self.num_features = config.fc_dim
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01 if m is self.fc8 else (2.0 / m.in_features) ** 0.5)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, t, h, w); with pool="pyramid" -> (B, ΣC) every stage's global max.

        With object_view, x is (B, 3, T, 2H, 2W) and the features of both views are concatenated on C; with
        object_motion the object's track (B, 4) follows them (pool="max" then pools the map here)."""
        c = self.config
        # the object's boxes, found once for both the glimpse and the track
        boxes = object_boxes(x, c.decoded_scale) if c.object_view or c.object_motion else None
        if not c.object_view:
            features = self._view_features(x)
        else:
            B = x.shape[0]
            views = torch.cat([frame_view(x, c.decoded_scale), object_view(x, c.size, boxes)])  # (2B, 3, T, H, W)
            frame, glimpse = self._view_features(views).split(B)
            features = torch.cat([frame, glimpse], dim=1)
        if c.object_motion:
            if c.pool == "max":
                features = features.amax(dim=(2, 3, 4))
            features = torch.cat([features, object_motion(boxes[0], x.shape[-2]).to(features.dtype)], dim=1)
        return features

    def _view_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.frame_diff:
            x = torch.cat([x, x.diff(dim=2, prepend=x[:, :, :1])], dim=1)  # (B, 6, T, H, W)
        if self.config.pool != "pyramid":
            return self.features(x)
        stages = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool3d):
                stages.append(x.amax(dim=(2, 3, 4)))
        return torch.cat(stages, dim=1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pool = self.config.pool
        if pool != "pyramid" and not self.config.object_motion:
            x = x.flatten(1) if pool == "flatten" else x.amax(dim=(2, 3, 4))  # (B, C*t*h*w) or (B, C)
        x = self.drop(torch.relu(self.fc6(x)))
        x = self.drop(torch.relu(self.fc7(x)))  # (B, fc_dim) per-clip feature
        return x if pre_logits else self.fc8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def normalize_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) frames -> float (..., 3, T, H, W), normalized.

    The permute leaves the memory in channels-last order, which is what ``channels_last_3d`` convolutions want.
    """
    mean = clips.new_tensor(MEAN, dtype=torch.float32)
    std = clips.new_tensor(STD, dtype=torch.float32)
    x = (clips.float() / 255.0 - mean) / std
    return x.movedim(-1, -4)
