"""Where the harness's own folders are: agents/, evals/, conf/ sit beside the ptb package."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
AGENTS_DIR = PROJECT_ROOT / "agents"
EVALS_DIR = PROJECT_ROOT / "evals"
TEMPLATES_DIR = EVALS_DIR / "templates"
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"  # ptb/prompts/<variant>.md


def template_path(family: str) -> Path:
    """The harness chat template of a model family (never the checkpoint's own)."""
    path = TEMPLATES_DIR / f"{family}.jinja"
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))
        raise FileNotFoundError(f"no chat template '{family}' in {TEMPLATES_DIR}; known: {known}")
    return path
