"""Named CNN backbones (feature extractors) the branching point detector can split.

Every backbone is built without downloading anything; ``weights`` loads a local checkpoint, or
with ``imagenet`` torchvision's ImageNet file from its cache (:func:`imagenet_file`).
A backbone may carry two hints for the coarse grouping in :mod:`treemtl.nets.detect`:

- ``treemtl_stages``: one tuple of module-path prefixes per natural stage (e.g. ResNet's stem,
  layer1..layer4), so the paper's five ResNet blocks come out exactly;
- ``treemtl_unit_depth``: module-path depth of the units FLOPs balancing may not cut through
  (MobileNetV2 is grouped from whole inverted-residual blocks ``features.N``, as in the paper).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from treemtl.errors import TreeMTLError
from treemtl.nets.layers import conv_bn_relu
from treemtl.nets.pretrained import read_state_dict
from treemtl.plugin import call_plugin

STAGES_ATTR = "treemtl_stages"
UNIT_DEPTH_ATTR = "treemtl_unit_depth"

RESNET_STAGES: tuple[tuple[str, ...], ...] = (
    ("conv1", "bn1", "relu", "maxpool"),
    ("layer1",),
    ("layer2",),
    ("layer3",),
    ("layer4",),
)
# Children of torchvision classifiers that belong to the classifier, not the feature extractor.
_CLASSIFIER_PARTS = frozenset({"avgpool", "fc", "classifier", "dropout", "AuxLogits", "aux1", "aux2", "head"})

#: MobileNetV2's five blocks in the paper (section 4.1): groups of whole inverted-residual blocks
#: ``features.N`` of similar FLOPs, as the authors fixed them by hand (their fine blocks 0-6, 7-17,
#: 18-22, 23-30, 31): the stem and the 16- and 24-channel blocks; the 32- and 64-channel blocks; the
#: 96-channel blocks; the 160- and 320-channel blocks; the final 1x1 convolution.
MOBILENET_V2_PAPER_STAGES: tuple[tuple[str, ...], ...] = (
    tuple(f"features.{i}" for i in range(0, 4)),
    tuple(f"features.{i}" for i in range(4, 11)),
    tuple(f"features.{i}" for i in range(11, 14)),
    tuple(f"features.{i}" for i in range(14, 18)),
    ("features.18",),
)

NAMED_BACKBONES: tuple[str, ...] = ("small_cnn", "deeplab_resnet34", "mobilenet_v2", "mobilenet_v2_paper")
#: ``backbone.weights`` value that selects torchvision's ImageNet weights from its local cache.
IMAGENET = "imagenet"


def small_cnn() -> nn.Sequential:
    """Five conv-BN-ReLU stages (16-32-64-112-128 channels, output stride 8), ~0.22 M params.

    Sized for CPU training on 64x64 synthetic images: the wide stages run at 8x8 and the
    high-resolution ones are narrow, since on CPU the early full-resolution activations (BN,
    ReLU, memory traffic) cost more time than their FLOPs suggest.
    """
    widths = (16, 32, 64, 112, 128)
    strides = (2, 2, 2, 1, 1)
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 3
    for index, (width, stride) in enumerate(zip(widths, strides)):
        stages[f"stage{index}"] = conv_bn_relu(in_channels, width, stride)
        in_channels = width
    model = nn.Sequential(stages)
    setattr(model, STAGES_ATTR, tuple((name,) for name in stages))
    return model


def _dilate_resnet_layer(layer: nn.Sequential, dilation: int) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 dilated one (DeepLab output stride 8).

    torchvision's ``BasicBlock`` refuses ``dilation > 1`` in its constructor, so the convolutions
    are edited after construction; weights keep their shapes, so ImageNet checkpoints still load.
    """
    for block in layer:
        for conv in (block.conv1, block.conv2):
            conv.stride = (1, 1)
            conv.dilation = (dilation, dilation)
            conv.padding = (dilation, dilation)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)


def _resnet_features(model: nn.Module) -> nn.Sequential:
    parts = OrderedDict((name, child) for name, child in model.named_children() if name not in _CLASSIFIER_PARTS)
    features = nn.Sequential(parts)
    if all(hasattr(features, f"layer{i}") for i in range(1, 5)):
        setattr(features, STAGES_ATTR, RESNET_STAGES)
    return features


def deeplab_resnet34() -> nn.Sequential:
    """Deeplab-ResNet34 of the paper: ResNet34, output stride 8, no avgpool/fc."""
    model = torchvision.models.resnet34(weights=None)
    _dilate_resnet_layer(model.layer3, 2)
    _dilate_resnet_layer(model.layer4, 4)
    return _resnet_features(model)


def mobilenet_v2() -> nn.Sequential:
    """MobileNetV2 ``features``; coarse blocks are FLOPs-balanced groups of whole inverted-residual blocks."""
    model = torchvision.models.mobilenet_v2(weights=None)
    features = nn.Sequential(OrderedDict(features=model.features))
    setattr(features, UNIT_DEPTH_ATTR, 2)
    return features


def mobilenet_v2_paper() -> nn.Sequential:
    """MobileNetV2 ``features`` cut into the paper's five blocks (:data:`MOBILENET_V2_PAPER_STAGES`)."""
    features = mobilenet_v2()
    setattr(features, STAGES_ATTR, MOBILENET_V2_PAPER_STAGES)
    return features


def torchvision_features(name: str) -> nn.Sequential:
    """Feature-extractor part of any torchvision classification CNN (classifier parts dropped).

    Models with a ``features`` container keep it under that name; the others keep their children
    in definition order, which for torchvision's CNNs (ResNet, RegNet, ShuffleNet, MNASNet,
    GoogLeNet, Inception) is also the forward order. Module names stay those of torchvision, so a
    torchvision checkpoint loads into the result.
    """
    try:
        factory = torchvision.models.get_model_builder(name)
    except ValueError:
        raise TreeMTLError(f"backbone 'torchvision:{name}': torchvision has no model {name!r}") from None
    kwargs: dict[str, object] = {"weights": None}
    if name in {"googlenet", "inception_v3"}:
        kwargs.update(aux_logits=False, init_weights=False)
    model = factory(**kwargs)
    if isinstance(getattr(model, "features", None), nn.Module):
        return nn.Sequential(OrderedDict(features=model.features))
    return _resnet_features(model)


def _user_factory(spec: str) -> nn.Module:
    model = call_plugin(spec, "backbone")
    if not isinstance(model, nn.Module):
        attr = spec.partition(":")[2]
        raise TreeMTLError(f"backbone {spec!r}: {attr}() returned {type(model).__name__}, expected an nn.Module")
    return model


_BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "small_cnn": small_cnn,
    "deeplab_resnet34": deeplab_resnet34,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v2_paper": mobilenet_v2_paper,
}

#: The torchvision model whose ImageNet weights initialise each named backbone (version 1: the
#: weights the paper's generation of MTL work started from).
_IMAGENET_MODELS: dict[str, str] = {
    "deeplab_resnet34": "resnet34",
    "mobilenet_v2": "mobilenet_v2",
    "mobilenet_v2_paper": "mobilenet_v2",
}


def imagenet_file(name: str) -> tuple[Path, str]:
    """(where torchvision caches the ImageNet weights of backbone ``name``, their download URL).

    Named backbones use the weights' first ImageNet version, ``torchvision:<model>`` its default.
    Nothing is downloaded; the file is read from ``$TORCH_HOME/hub/checkpoints`` like torchvision does.
    """
    if name in _IMAGENET_MODELS:
        weights = torchvision.models.get_model_weights(_IMAGENET_MODELS[name]).IMAGENET1K_V1
    elif name.startswith("torchvision:"):
        try:
            weights = torchvision.models.get_model_weights(name.split(":", 1)[1]).DEFAULT
        except (ValueError, KeyError):
            raise TreeMTLError(f"backbone.weights: imagenet: torchvision has no ImageNet weights for {name!r}") from None
    else:
        raise TreeMTLError(
            f"backbone.weights: imagenet: no ImageNet weights for backbone {name!r}; "
            f"expected one of {', '.join(_IMAGENET_MODELS)} or torchvision:<model>, or a local state_dict file"
        )
    url = str(weights.url)
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1], url


def _weights_file(name: str, weights: str) -> Path:
    """The state_dict file ``backbone.weights`` names for backbone ``name``; it must exist."""
    if weights != IMAGENET:
        return Path(weights)
    path, url = imagenet_file(name)
    if not path.is_file():
        raise TreeMTLError(
            f"backbone.weights: imagenet: {path} not found (torchvision's ImageNet weights of {name}); "
            f"download {url} to that file (or set TORCH_HOME), or set backbone.weights to a local state_dict"
        )
    return path


def build_backbone(name: str, weights: str | None = None) -> nn.Module:
    """Build a backbone by name: a named one, ``torchvision:<name>`` or ``module.path:callable``."""
    if name in _BUILDERS:
        model = _BUILDERS[name]()
    elif name.startswith("torchvision:"):
        model = torchvision_features(name.split(":", 1)[1])
    elif ":" in name:
        model = _user_factory(name)
    else:
        raise TreeMTLError(
            f"unknown backbone {name!r}; expected one of {', '.join(NAMED_BACKBONES)}, "
            "'torchvision:<model name>' or 'module.path:callable'"
        )
    if weights is not None:
        load_weights(model, _weights_file(name, weights))
    return model


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a local state_dict (:func:`~treemtl.nets.pretrained.read_state_dict`).

    Keys of classifier parts the feature extractor dropped (``fc.*``, ``classifier.*``) are
    ignored, so an ImageNet classification checkpoint initializes the backbone; anything else
    that does not match is an error, never a silent partial load.
    """
    file = Path(path)
    if not file.is_file():
        raise TreeMTLError(f"backbone.weights: {file}: no such file")
    state = read_state_dict(file, where="backbone.weights: ")
    own = model.state_dict()
    unexpected = [k for k in state if k not in own and k.split(".", 1)[0] not in _CLASSIFIER_PARTS]
    missing = [k for k in own if k not in state]
    if missing or unexpected:
        raise TreeMTLError(
            f"backbone.weights: {file}: keys do not match the backbone "
            f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    try:
        model.load_state_dict({k: v for k, v in state.items() if k in own})
    except RuntimeError as error:
        raise TreeMTLError(f"backbone.weights: {file}: {' '.join(str(error).split())}") from None
