"""Visual extractors: ResNet-101 with torchvision's layout, weights only from a local file, checked strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtlbench.backbones.visual import SmallCNN, build_extractor, load_extractor_weights, resnet101
from mtlbench.errors import MtlbenchError

# torchvision.models.resnet101(): 44,549,160 parameters, of which fc holds 2048 * 1000 + 1000
TORCHVISION_RESNET101_WITHOUT_FC = 44_549_160 - 2_049_000


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    return resnet101()


def test_resnet101_has_torchvisions_size_and_key_layout(resnet: torch.nn.Module) -> None:
    assert sum(p.numel() for p in resnet.parameters()) == TORCHVISION_RESNET101_WITHOUT_FC
    keys = resnet.state_dict()
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer3.22.conv3.weight",
    ):
        assert key in keys
    assert "layer3.23.conv1.weight" not in keys and "fc.weight" not in keys
    assert keys["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)


def test_resnet101_gives_a_7x7_grid_of_2048_channels_at_224_px(resnet: torch.nn.Module) -> None:
    with torch.no_grad():
        assert resnet.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 2048, 7, 7)


def _torchvision_like_file(resnet: torch.nn.Module, tmp_path: Path) -> Path:
    """What ``torch.save(torchvision.models.resnet101(...).state_dict(), path)`` writes: trunk + fc."""
    state = dict(resnet.state_dict())
    state["layer2.1.conv2.weight"] = torch.full_like(state["layer2.1.conv2.weight"], 0.5)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    path = tmp_path / "resnet101.pth"
    torch.save(state, path)
    return path


def test_a_torchvision_state_dict_loads_strictly(resnet: torch.nn.Module, tmp_path: Path) -> None:
    path = _torchvision_like_file(resnet, tmp_path)
    model = build_extractor("resnet101", cnn_channels=(), weights=str(path))
    assert bool((model.state_dict()["layer2.1.conv2.weight"] == 0.5).all())


def test_missing_or_mismatching_weights_are_one_line_errors(resnet: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(MtlbenchError, match="do not exist"):
        load_extractor_weights(resnet, tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(MtlbenchError, match="cannot be read"):
        load_extractor_weights(resnet, tmp_path / "junk.pth")
    state = dict(resnet.state_dict())
    del state["layer4.2.bn3.weight"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(MtlbenchError, match=r"missing \['layer4.2.bn3.weight'\]") as err:
        load_extractor_weights(resnet, tmp_path / "short.pth")
    assert "\n" not in str(err.value)
    state = dict(resnet.state_dict())
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(MtlbenchError, match=r"conv1\.weight has shape"):
        load_extractor_weights(resnet, tmp_path / "shape.pth")
    torch.save(SmallCNN((8, 16)).state_dict(), tmp_path / "other.pth")
    with pytest.raises(MtlbenchError, match="unexpected"):
        load_extractor_weights(resnet, tmp_path / "other.pth")


def test_extractor_choice_is_checked(tmp_path: Path) -> None:
    with pytest.raises(MtlbenchError, match="unknown visual extractor"):
        build_extractor("vit", cnn_channels=(8,), weights=None)
    with pytest.raises(MtlbenchError, match="takes no weights"):
        build_extractor("cnn", cnn_channels=(8,), weights=str(tmp_path / "w.pth"))
