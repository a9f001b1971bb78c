"""The two image encoders of 2M-NER (paper §4.2.2), real or tiny.

* ViT: the vision tower of CLIP ``openai/clip-vit-base-patch32`` (Table 4), first K layers,
  output ``v_K`` = the encoder's last hidden state ``[B, 1 + N, D_v]`` (CLS + patches, before
  CLIP's ``post_layernorm``, as in the authors' code). ``"tiny"``: a random ``CLIPVisionConfig``.
* ResNet: torchvision ResNet-152 (ImageNet V1) up to ``layer4``: a ``[B, 2048, 7, 7]`` grid at 224
  pixels. ``"tiny"``: a three-stage residual CNN (16/32/64 channels) pooled to a 7x7 grid.
* ``"random:<id>"`` (either encoder): the real architecture with random weights, for cost runs.

Builders return the module plus a JSON-able ``saved`` dict stored in the tagger's config, from
which ``rebuild_*`` recreates the same architecture without the pretrained files.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

TINY = "tiny"
RANDOM = "random:"  # "random:<artefact id>": the artefact's architecture, randomly initialised (cost runs)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------------------------------------
# ViT (CLIP vision tower)
# ---------------------------------------------------------------------------------------------

def tiny_clip_config(image_size: int, layers: int) -> dict[str, Any]:
    """A small random CLIP vision tower: hidden 32, 2 heads, 4x4 patches grid (16 patches + CLS)."""
    return {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers,
            "num_attention_heads": 2, "image_size": image_size, "patch_size": max(1, image_size // 4),
            "num_channels": 3}


def _processor_dict(processor: Any) -> dict[str, Any]:
    return json.loads(json.dumps(processor.to_dict(), default=lambda o: int(o) if isinstance(o, int) else str(o)))


def tiny_clip_processor(image_size: int) -> Any:
    """CLIP's preprocessing (short side resize, centre crop, CLIP mean/std) at ``image_size``."""
    from transformers import CLIPImageProcessor
    return CLIPImageProcessor(size={"shortest_edge": image_size},
                              crop_size={"height": image_size, "width": image_size},
                              image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))


def build_vit(name: str, layers: int, image_size: int, log: Callable[[str], None] = lambda m: None
              ) -> tuple[nn.Module, Any, dict[str, Any]]:
    """``(CLIPVisionModel truncated to `layers`, image processor, saved)`` for a hub id/dir or tiny."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel
    if name == TINY or name.startswith(RANDOM):
        cfg = CLIPVisionConfig(**(tiny_clip_config(image_size, layers) if name == TINY else {"image_size": image_size}))
        model = CLIPVisionModel(cfg)  # RANDOM: CLIPVisionConfig's defaults are ViT-B/32
        processor = tiny_clip_processor(image_size)
        log(f"ViT: {name} random CLIP vision tower ({layers} layers, hidden {cfg.hidden_size}, {image_size}px)")
    else:
        from baselines.layers.text_encoder import load_pretrained
        from benchmark.weights import resolve_hf
        path = resolve_hf(name)
        model = load_pretrained(CLIPVisionModel, path)  # in the configured dtype, even from an fp16 file
        try:
            processor = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError):
            processor = tiny_clip_processor(image_size)  # standard CLIP preprocessing values
            log(f"ViT: no preprocessor_config.json in {path}; using CLIP's standard preprocessing")
        if image_size != model.config.image_size:
            processor.size = {"shortest_edge": image_size}
            processor.crop_size = {"height": image_size, "width": image_size}
            log(f"ViT: image_size {image_size} differs from the checkpoint's {model.config.image_size}; "
                "position embeddings are interpolated")
        log(f"ViT: {name} from {path}, first {layers} of {model.config.num_hidden_layers} layers")
    truncate_vit(model, layers)
    saved = {"source": name, "config": _config_json(model.config), "processor": _processor_dict(processor)}
    return model, processor, saved


def truncate_vit(model: nn.Module, layers: int) -> None:
    """Keep the first ``layers`` transformer blocks (the paper's "first K layers")."""
    total = len(model.encoder.layers)
    if not 1 <= layers <= total:
        raise ValueError(f"vit_layers must be in 1..{total}, got {layers}")
    model.encoder.layers = model.encoder.layers[:layers]
    model.config.num_hidden_layers = layers


def rebuild_vit(saved: dict[str, Any]) -> tuple[nn.Module, Any]:
    """Architecture and processor from ``saved`` (weights come from the tagger's state dict)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel
    cfg = CLIPVisionConfig(**saved["config"])
    return CLIPVisionModel(cfg), CLIPImageProcessor.from_dict(saved["processor"])


def _config_json(config: Any) -> dict[str, Any]:
    d = config.to_dict()
    drop = ("transformers_version", "dtype", "torch_dtype", "architectures", "model_type")
    return json.loads(json.dumps({k: v for k, v in d.items() if not k.startswith("_") and k not in drop},
                                 default=str))


# ---------------------------------------------------------------------------------------------
# ResNet grid encoder
# ---------------------------------------------------------------------------------------------

class ResNetGrid(nn.Module):
    """torchvision ResNet without ``avgpool``/``fc``: pixels ``[B, 3, S, S]`` -> grid ``[B, C, S/32, S/32]``."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))
        self.out_channels = resnet.fc.in_features

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(pixels))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class TinyResNet(nn.Module):
    """A small random residual CNN (BatchNorm included): ``[B, 3, S, S]`` -> ``[B, 64, 7, 7]``."""

    def __init__(self, width: int = 16, grid: int = 7) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        blocks, cin = [], width
        for cout, stride in ((width, 1), (2 * width, 2), (4 * width, 1)):
            down = None if (stride == 1 and cin == cout) else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            blocks.append(BasicBlock(cin, cout, stride=stride, downsample=down))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.out_channels = cin

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(pixels)))


def _resnet_source(name: str) -> tuple[str, str | None]:
    """(torchvision arch, explicit weight file or None) for an artefact id or a file path."""
    if Path(name).expanduser().is_file() or name.endswith((".pth", ".pt")):
        return "resnet152", name
    from benchmark.weights import artifact
    art = artifact(name)
    return art.arch or "resnet152", None


def build_resnet(name: str, log: Callable[[str], None] = lambda m: None) -> tuple[nn.Module, dict[str, Any]]:
    """``(grid encoder, saved)``: ``tiny``, an artefact id (``torchvision/resnet152``) or a .pth file."""
    if name == TINY:
        log("ResNet: tiny random CNN (16/32/64 channels, 7x7 grid)")
        return TinyResNet(), {"source": TINY}
    if name.startswith(RANDOM):
        import torchvision
        arch, _ = _resnet_source(name[len(RANDOM):])
        log(f"ResNet: {arch} with random weights")
        return ResNetGrid(getattr(torchvision.models, arch)(weights=None)), {"source": name, "arch": arch}
    from benchmark.weights import load_torchvision
    arch, path = _resnet_source(name)
    model = ResNetGrid(load_torchvision(arch, path))
    log(f"ResNet: {arch} ImageNet weights ({path or name})")
    return model, {"source": name, "arch": arch}


def rebuild_resnet(saved: dict[str, Any]) -> nn.Module:
    if saved["source"] == TINY:
        return TinyResNet()
    import torchvision
    return ResNetGrid(getattr(torchvision.models, saved.get("arch", "resnet152"))(weights=None))


def module_fingerprint(module: nn.Module) -> str:
    """Hash of a module's parameters and buffers (its identity for the feature cache)."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        t = value.detach().to("cpu").contiguous()
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:20]
