"""Checkpoints made from the tiny base model for tests of the checks and the served copy.

    from tiny_checkpoints import finetune
    tuned = finetune(tiny_model_dir, tmp_path / "tuned")   # the base, nudged: a "trained" checkpoint
"""

from __future__ import annotations

from pathlib import Path


def finetune(base: Path, out: Path, seed: int = 1, scale: float = 0.05) -> Path:
    """A stand-in for a fine-tune: every weight moved by ``scale`` of its tensor's std, seeded,
    saved with the base model's tokenizer (as a real training run's checkpoint would be)."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * p.std() * torch.randn_like(p))
    model.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out
