"""Red-team helper: the local folder of a Hub model in the (read-only) HF cache, printed; exit 1
when it is not there. Looked up as any program would (huggingface_hub, offline), and by hand in
every HF cache folder named in the environment or in the usual places."""

import os
import sys
from pathlib import Path

repo_id = sys.argv[1]
try:
    from huggingface_hub import snapshot_download

    print(snapshot_download(repo_id=repo_id, local_files_only=True))
    sys.exit(0)
except Exception:
    pass
caches = [os.environ.get("HF_HUB_CACHE"), os.environ.get("HF_HOME") and os.path.join(os.environ["HF_HOME"], "hub"),
          "/root/.cache/huggingface/hub", *map(str, Path("/home").glob("*/.cache/huggingface/hub"))]
for cache in filter(None, caches):
    for config in sorted(Path(cache).glob(f"models--{repo_id.replace('/', '--')}/snapshots/*/config.json")):
        print(config.parent)
        sys.exit(0)
print(f"redteam: {repo_id} not in any HF cache found", file=sys.stderr)
sys.exit(1)
