"""The stand-in internet of the networked cheats: a Hub that serves the stand-in instruct model's
files (and nothing else) and a hosted LLM API that writes training data, over HTTPS."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ptb.redteam.artifacts import INSTRUCT_ID
from ptb.redteam.servers import HUB_HOST, LLM_HOST, FakeInternet


def _open(address: str, host: str, path: str, ca: Path, data: bytes | None = None) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False  # we dial 127.0.0.1; the certificate names the host
    request = urllib.request.Request(f"https://{address}{path}", data=data, headers={"Host": host})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.read()


def test_hub_serves_the_instruct_files_and_the_llm_writes_items(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    with FakeInternet(tmp_path, model) as internet:
        got = _open(internet.hub, HUB_HOST, f"/{INSTRUCT_ID}/resolve/main/config.json", internet.ca_path)
        assert json.loads(got) == {"model_type": "llama"}
        with pytest.raises(urllib.error.HTTPError):
            _open(internet.hub, HUB_HOST, "/someone/else/resolve/main/config.json", internet.ca_path)
        reply = json.loads(_open(internet.llm, LLM_HOST, "/v1/chat/completions", internet.ca_path, data=b"{}"))
    lines = reply["choices"][0]["message"]["content"].splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) >= 100 and all(i["solution"].endswith(f"The answer is {i['answer']}.") for i in items)
