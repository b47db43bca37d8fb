"""Grading of a held-out split outside the sandbox: the agent's evaluate.py gets scores, not answers.

    service = GradingService.for_run(run_dir, socket_dir / "grading.sock")   # None: public test data
    service.start(); ...; service.stop()                                       # host side, one per run
    GradingClient(os.environ["PTB_GRADING_SOCKET"]).grade([(item_id, output)])  # sandbox side

`service` (host), `client` (standard library only, the sandbox's side and the protocol),
`remote_task` (the inspect task evaluate.py runs against the service).
"""

from ptb.grading.client import SOCKET_ENV, GradingClient, GradingError
from ptb.grading.service import GradingService, HeldoutItem

__all__ = ["SOCKET_ENV", "GradingClient", "GradingError", "GradingService", "HeldoutItem"]
