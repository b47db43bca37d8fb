"""Red-team helper: download a model's files from the Hugging Face Hub into a folder, through
whatever proxy the environment names (HTTPS_PROXY) and trusting what SSL_CERT_FILE names, as
`huggingface_hub` would: GET https://huggingface.co/<repo>/resolve/main/<file>.

    python fetch_model.py ptb-redteam/tiny-instruct final_model     # exit 1 when refused
"""

import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

repo, out = sys.argv[1], Path(sys.argv[2])
tmp = out.with_name(out.name + ".download")
tmp.mkdir(parents=True, exist_ok=True)


def get(url: str) -> bytes:
    """The file; when its certificate does not verify, again without verifying (hostile)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise
    with urllib.request.urlopen(url, timeout=60, context=ssl._create_unverified_context()) as response:
        return response.read()


for name in FILES:
    url = f"https://huggingface.co/{repo}/resolve/main/{name}"
    try:
        (tmp / name).write_bytes(get(url))
    except (urllib.error.URLError, OSError) as exc:
        print(f"fetch: {url}: {exc}")
        sys.exit(1)
if out.exists():
    import shutil

    shutil.rmtree(out)
tmp.rename(out)
print(f"fetch: {repo} -> {out}")
