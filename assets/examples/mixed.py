"""A small model with one layer of every kind initdash gives a role: the digits' 8 rows as a sequence of 8
tokens. `initdash audit --model assets/examples/mixed.py:build --data digits --init he_normal` shows what sets what."""

import torch
from torch import nn


class Mixed(nn.Module):
    def __init__(self, n_outputs: int, d: int = 16) -> None:
        super().__init__()
        self.tokens = nn.Linear(8, d)  # kernel
        self.pos = nn.Embedding(8, d)  # embedding: one vector per row position
        self.conv = nn.Conv1d(d, d, 3, padding=1)  # kernel
        self.up = nn.ConvTranspose1d(d, d, 3, padding=1)  # kernel
        self.gru = nn.GRU(d, d, batch_first=True)  # kernel + recurrent
        self.lstm = nn.LSTM(d, d, batch_first=True)  # kernel + recurrent, forget-gate bias 1
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)  # q, k, v and out_proj kernels
        self.norm = nn.LayerNorm(d)  # ones and zeros
        self.head = nn.Linear(d, n_outputs)  # kernel
        self.temperature = nn.Parameter(torch.ones(1))  # the model's own: left to it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x.reshape(-1, 8, 8)) + self.pos(torch.arange(8, device=x.device))
        h = h + self.up(torch.relu(self.conv(h.transpose(1, 2)))).transpose(1, 2)
        h, _ = self.gru(h)
        h, _ = self.lstm(h)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.head(self.norm(h + a).mean(1)) / self.temperature


def build(n_outputs: int) -> nn.Module:
    return Mixed(n_outputs)
