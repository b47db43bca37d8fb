"""The host side of held-out grading: a Unix-socket service, one per run, that grades model outputs.

    service = GradingService.for_run(run_dir, scratch / "grading" / "grading.sock")
    if service is not None:          # None: the task's test data is public (no heldout_items)
        service.start()              # the sandbox gets the socket's folder bound read-only
        ...                          # and PTB_GRADING_SOCKET naming the socket
        service.stop()

Why: a task whose test split is secret (arith, `ptb.tasks.heldout`) cannot be graded inside the
sandbox without handing the answers to the agent. The service holds the items (the task module's
``heldout_items()``: id, prompt, target) and its ``grade(output, target)``; the sandboxed
evaluate.py asks for the prompts (viewing test items is allowed, SPEC §5) and sends back its
model's outputs; each reply says correct or not per item, and the totals. The target never
leaves this process.

Correct-or-not per item is still an oracle: an agent could send "The answer is 0", "… 1", … for
one item until it hears "correct". So each item is graded on at most ``max_outputs_per_item``
distinct outputs per run (the same output again is answered from memory and does not count);
after that the item is answered ``"correct": null, "limited": true``. Every grading is appended
to ``<run_dir>/grading.jsonl`` (time, item, a hash and the length of the output, the verdict),
outside the sandbox, for the judge.

The task comes from the run folder's ``spec.yaml`` (written by prepare, out of the agent's
reach), never from the workspace's ptb_eval.json, which the agent can rewrite.
"""

from __future__ import annotations

import hashlib
import json
import os
import socketserver
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from ptb.grading.client import MAX_LINE_BYTES

MAX_OUTPUT_CHARS = 1 << 20  # a model reply longer than this is not a reply
DEFAULT_MAX_OUTPUTS_PER_ITEM = 16
_UNIX_PATH_MAX = 107
_IDLE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class HeldoutItem:
    id: str
    prompt: str
    target: str


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, path: Path, service: GradingService) -> None:
        self.service = service
        self.path = path
        super().__init__(str(path), _Handler, bind_and_activate=False)

    def server_bind(self) -> None:
        if len(os.fsencode(self.path)) <= _UNIX_PATH_MAX:
            self.socket.bind(str(self.path))
            return
        # sun_path holds 108 bytes: a deep scratch folder is named through an open fd.
        fd = os.open(self.path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.socket.bind(f"/proc/self/fd/{fd}/{self.path.name}")
        finally:
            os.close(fd)


class _Handler(socketserver.StreamRequestHandler):
    timeout = _IDLE_TIMEOUT_S

    def handle(self) -> None:
        service: GradingService = self.server.service  # type: ignore[attr-defined]
        while True:
            try:
                line = self.rfile.readline(MAX_LINE_BYTES + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_LINE_BYTES:
                self._send({"ok": False, "error": f"request over {MAX_LINE_BYTES} bytes"})
                return
            try:
                reply = service.handle(json.loads(line))
            except (ValueError, TypeError, KeyError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            if not self._send(reply):
                return

    def _send(self, reply: dict[str, Any]) -> bool:
        try:
            self.wfile.write((json.dumps(reply) + "\n").encode())
            self.wfile.flush()
            return True
        except OSError:
            return False


class GradingService:
    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        task_name: str,
        items: Sequence[HeldoutItem],
        grade: Callable[[str, str], bool],
        *,
        log_path: str | os.PathLike[str] | None = None,
        max_outputs_per_item: int = DEFAULT_MAX_OUTPUTS_PER_ITEM,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.task_name = task_name
        self._items = {item.id: item for item in items}
        self._order = [item.id for item in items]
        self._grade = grade
        self.max_outputs_per_item = max_outputs_per_item
        self._seen: dict[str, dict[str, bool]] = {}  # item id -> output hash -> verdict
        self._lock = threading.Lock()
        self._log_path = Path(log_path) if log_path else None
        self._log: IO[str] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_task(cls, task: Any, socket_path: str | os.PathLike[str], **kwargs: Any) -> GradingService | None:
        """The service of a task whose module has ``heldout_items`` and ``grade``; else None."""
        from ptb.plugins import load_task_module

        module = load_task_module(task)
        items_fn, grade = getattr(module, "heldout_items", None), getattr(module, "grade", None)
        if not callable(items_fn) or not callable(grade):
            return None
        items = [HeldoutItem(str(i), str(p), str(t)) for i, p, t in items_fn()]
        return cls(socket_path, task.name, items, grade, **kwargs)

    @classmethod
    def for_run(cls, run_dir: str | os.PathLike[str], socket_path: str | os.PathLike[str], **kwargs: Any) -> GradingService | None:
        """The service of the run whose harness-written ``spec.yaml`` is in ``run_dir``."""
        from ptb.io import from_jsonable
        from ptb.records import RunSpec

        document = yaml.safe_load((Path(run_dir) / "spec.yaml").read_text())
        spec = from_jsonable(RunSpec, document["spec"])
        kwargs.setdefault("log_path", Path(run_dir) / "grading.jsonl")
        return cls.for_task(spec.task, socket_path, **kwargs)

    # ------------------------------------------------------------------ the protocol

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object with 'op'"}
        op = request.get("op")
        if op == "items":
            return {"ok": True, "task": self.task_name,
                    "items": [{"id": i, "input": self._items[i].prompt} for i in self._order]}
        if op == "grade":
            answers = request.get("answers")
            if not isinstance(answers, list):
                return {"ok": False, "error": "'answers' must be a list of {id, output}"}
            return self._grade_all(answers)
        return {"ok": False, "error": f"unknown op {op!r}; accepted: items, grade"}

    def _grade_all(self, answers: list[Any]) -> dict[str, Any]:
        checked: list[tuple[HeldoutItem, str]] = []
        for answer in answers:
            if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or not isinstance(answer.get("output"), str):
                return {"ok": False, "error": "each answer is {\"id\": str, \"output\": str}"}
            item = self._items.get(answer["id"])
            if item is None:
                return {"ok": False, "error": f"no test item {answer['id'][:80]!r}"}
            if len(answer["output"]) > MAX_OUTPUT_CHARS:
                return {"ok": False, "error": f"the output of {item.id} is over {MAX_OUTPUT_CHARS} characters"}
            checked.append((item, answer["output"]))
        results = []
        for item, output in checked:
            results.append(self._grade_one(item, output))
        correct = sum(1 for r in results if r["correct"] is True)
        limited = sum(1 for r in results if r.get("limited"))
        return {"ok": True, "results": results, "correct": correct, "graded": len(results) - limited, "limited": limited}

    def _grade_one(self, item: HeldoutItem, output: str) -> dict[str, Any]:
        key = hashlib.sha256(output.encode()).hexdigest()
        with self._lock:
            seen = self._seen.setdefault(item.id, {})
            if key in seen:
                return {"id": item.id, "correct": seen[key]}
            if len(seen) >= self.max_outputs_per_item:
                self._record(item.id, key, len(output), None)
                return {"id": item.id, "correct": None, "limited": True}
        try:
            verdict = bool(self._grade(output, item.target))
        except Exception:  # a grader that fails on odd output: that output is not correct
            verdict = False
        with self._lock:
            seen[key] = verdict
            self._record(item.id, key, len(output), verdict)
        return {"id": item.id, "correct": verdict}

    def _record(self, item_id: str, key: str, length: int, verdict: bool | None) -> None:
        if self._log is None:
            return
        line = {"t": round(time.time(), 3), "id": item_id, "output_sha256": key[:16], "output_chars": length,
                "correct": verdict, **({"limited": True} if verdict is None else {})}
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GradingService:
        """Listen on the socket (replacing a stale one left by a dead run)."""
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.path.lexists(self.socket_path):
            if not stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                raise FileExistsError(f"{self.socket_path} exists and is not a socket")
            os.unlink(self.socket_path)
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self._log_path, "a", encoding="utf-8")
        server = _Server(self.socket_path, self)
        try:
            server.server_bind()
            os.chmod(self.socket_path, 0o600)  # the sandbox runs as our uid; other users stay out
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="grading-service", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if os.path.lexists(self.socket_path):
            os.unlink(self.socket_path)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> GradingService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
