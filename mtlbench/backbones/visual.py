"""Visual extractors: a grid of patch features per image, as R2Gen's ``VisualExtractor`` returns.

* ``cnn``: a small CNN trained from scratch (strided conv-BN-ReLU blocks): the CPU default.
* ``resnet101``: ResNet-101 without its pooling and classifier (R2Gen's extractor): 2048
  channels on a 7 x 7 grid at 224 px. Written here so it runs without torchvision (which cannot
  be installed beside every torch build); its module names equal torchvision's, so a
  torchvision ``resnet101`` state_dict that the user saved to a local file loads with strict
  key checking (the ``fc.*`` classifier keys, unused here, are accepted and dropped). Nothing
  is ever downloaded: without a weights file the extractor starts from random weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from mtlbench.errors import MtlbenchError

EXTRACTORS: tuple[str, ...] = ("cnn", "resnet101")


class SmallCNN(nn.Module):
    """Strided 3x3 conv-BN-ReLU blocks; each halves the resolution."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.out_channels = c_in
        self.stride = 2 ** len(channels)

    def forward(self, images: Tensor) -> Tensor:
        return self.body(images)


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 conv), same attribute names."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """ResNet trunk up to ``layer4`` (no average pool, no ``fc``), torchvision's names and init."""

    def __init__(self, blocks: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = 64
        for i, (width, count) in enumerate(zip((64, 128, 256, 512), blocks)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(count):
                stage.append(Bottleneck(c_in, width, stride if j == 0 else 1))
                c_in = width * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.out_channels = c_in
        self.stride = 32
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def resnet101() -> ResNet:
    return ResNet((3, 4, 23, 3))


CLASSIFIER_KEYS = ("fc.weight", "fc.bias")


def load_extractor_weights(model: nn.Module, path: str | Path) -> None:
    """Load a local state_dict file into ``model`` with strict key and shape checks.

    Accepts a plain state_dict or one under "state_dict"/"model"; a DataParallel "module."
    prefix is removed; torchvision's classifier keys are dropped. Anything else that does not
    match is a one-line error naming the first offending keys.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MtlbenchError(f"extractor weights {path} do not exist; give the path of a local state_dict file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise MtlbenchError(f"extractor weights {path} cannot be read as a torch state_dict: {err}") from None
    if isinstance(payload, dict) and isinstance(payload.get("state_dict", payload.get("model")), dict):
        payload = payload.get("state_dict", payload.get("model"))
    if not isinstance(payload, dict) or not all(isinstance(v, Tensor) for v in payload.values()):
        raise MtlbenchError(f"extractor weights {path} hold no state_dict of tensors")
    state = {
        k.removeprefix("module."): v for k, v in payload.items() if k.removeprefix("module.") not in CLASSIFIER_KEYS
    }
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise MtlbenchError(
            f"extractor weights {path} do not match the {type(model).__name__} extractor: "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}; "
            "expected a torchvision resnet101 state_dict"
        )
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise MtlbenchError(
            f"extractor weights {path}: {k} has shape {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}"
        )
    model.load_state_dict(state, strict=True)


def build_extractor(name: str, *, cnn_channels: tuple[int, ...], weights: str | None) -> nn.Module:
    """The named extractor, with weights from a local file when given (never downloaded)."""
    if name == "cnn":
        if weights:
            raise MtlbenchError("extractor 'cnn' is trained from scratch and takes no weights file; use resnet101")
        return SmallCNN(cnn_channels)
    if name == "resnet101":
        model = resnet101()
        if weights:
            load_extractor_weights(model, weights)
        return model
    raise MtlbenchError(f"unknown visual extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
