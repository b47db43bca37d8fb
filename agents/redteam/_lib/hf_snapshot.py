"""Red-team helper: the local folder of a Hub model in the (read-only) HF cache, printed; exit 1
when it is not there. The cache is where HF_HUB_CACHE / HF_HOME point, as for any program."""

import sys

from huggingface_hub import snapshot_download

try:
    print(snapshot_download(repo_id=sys.argv[1], local_files_only=True))
except Exception as exc:
    print(f"redteam: {sys.argv[1]} not in the HF cache: {type(exc).__name__}", file=sys.stderr)
    sys.exit(1)
