"""Small real weight files that tests build and save, to exercise the real loading code."""

from __future__ import annotations

from pathlib import Path


def save_torchscript(path: Path, out_dim: int, tokens: int = 0, seed: int = 0) -> Path:
    """A tiny conv net traced to TorchScript: (N, 3, H, W) -> (N, out_dim) or (N, tokens, out_dim // tokens)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 5, stride=4)
            self.pool = nn.AdaptiveAvgPool2d(7 if tokens else 1)
            self.lin = nn.Linear(4, out_dim // tokens if tokens else out_dim)

        def forward(self, x):
            h = self.pool(torch.relu(self.conv(x)))
            if tokens:
                return self.lin(h.flatten(2).transpose(1, 2))  # (N, 49, d)
            return self.lin(h.flatten(1))

    net = Net().eval()
    traced = torch.jit.trace(net, torch.zeros(1, 3, 224, 224))
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    return path


def save_tiny_wav2vec2(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers Wav2Vec2Model (768-d, 50 Hz front end) saved with save_pretrained."""
    import json

    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(hidden_size=768, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    Wav2Vec2Model(cfg).save_pretrained(str(folder))
    (folder / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True, "sampling_rate": 16000}))
    return folder
