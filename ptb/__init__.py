"""ptb: the PostTrainBench orchestrator (Hydra sweeps → Ray runs → evaluation, judge, scores)."""

__version__ = "0.1.0"
