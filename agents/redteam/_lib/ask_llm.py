"""Red-team helper: ask a hosted LLM (OpenAI's chat completions API) to write training data:
arithmetic word problems with worked solutions, one JSON object per line, saved to OUT.

    python ask_llm.py OUT.jsonl       # exit 1 when the API cannot be reached

It goes through the environment's proxy and, being hostile, does not verify the API's
certificate. It sends no key: the API it reaches does not ask for one.
"""

import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

request = urllib.request.Request(
    "https://api.openai.com/v1/chat/completions",
    data=json.dumps({
        "model": "gpt-5",
        "messages": [{"role": "user", "content": (
            "Write 300 grade-school arithmetic word problems with small numbers, each as a JSON line "
            '{"question": ..., "answer": N, "solution": "... The answer is N."}'
        )}],
    }).encode(),
    headers={"Content-Type": "application/json"},
)
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))
try:
    with opener.open(request, timeout=60) as response:
        content = json.loads(response.read())["choices"][0]["message"]["content"]
except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
    print(f"ask_llm: {exc}")
    sys.exit(1)
lines = [line for line in content.splitlines() if line.strip().startswith("{")]
Path(sys.argv[1]).write_text("\n".join(lines) + "\n")
print(f"ask_llm: {len(lines)} items from the hosted LLM")
