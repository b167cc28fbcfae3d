"""Custom actions run in this process by rasa-sdk's own executor: the action server without the HTTP.

:class:`InProcessActionClient` answers :meth:`call` exactly as ``python -m rasa_sdk`` answers ``POST /webhook``
(rasa-sdk's ``endpoint.py``): the reply's ``{events, responses}`` with 200, a rejection 400, an unknown action
404, a missing domain 449 and a crash 500. Payload and reply pass through JSON as they would on the wire, so
an action sees the same tracker it would see on the action server. The simulator trains against it, so a policy
is tuned on the very action classes the action server serves; ``RemoteAction`` cannot tell the two apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot import fastjson

logger = logging.getLogger(__name__)

IN_PROCESS_URL = "in-process://actions"


@dataclass
class InProcessEndpoint:
    """What ``RemoteAction`` reads of an endpoint: the in-process executor always gets the domain."""

    url: str = IN_PROCESS_URL
    enable_selective_domain: bool = False


class InProcessActionClient:
    """Runs a rasa-sdk actions package in process, with the action server's status codes.

    :param package: the actions package or module to register (``actions``, ``tests.x.my_actions``)
    """

    def __init__(self, package: str) -> None:
        import importlib
        import inspect

        from rasa_sdk import Action
        from rasa_sdk.executor import ActionExecutor
        from rasa_sdk.utils import all_subclasses

        try:
            importlib.import_module(package)  # a clear error here, not rasa-sdk's logged traceback
        except ImportError as exc:
            raise ImportError(f"cannot import the actions package '{package}': {exc}") from exc
        self.package = package
        self.endpoint = InProcessEndpoint(url=f"in-process://{package}")
        self.executor = ActionExecutor()
        executor_log = logging.getLogger("rasa_sdk.executor")
        level = executor_log.level
        executor_log.setLevel(logging.WARNING)  # its "Registered function for ..." lines, once per registration
        try:
            self.executor.register_package(package)  # imports the package and its modules, as the server does
            # rasa-sdk then registers every Action subclass loaded in the process (its server runs one package);
            # here other projects' actions may be loaded too (with the same names): only the package's own stay
            self.executor.actions = {}
            for action_class in all_subclasses(Action):
                module = action_class.__module__
                if (module == package or module.startswith(package + ".")) and not inspect.isabstract(action_class):
                    self.executor.register_action(action_class)
        finally:
            executor_log.setLevel(level)
        if not self.executor.actions:
            raise ImportError(f"the actions package '{package}' defines no rasa-sdk action")

    def action_names(self) -> list[str]:
        """Every action the package registers."""
        return sorted(self.executor.actions)

    async def call(self, action_name: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """Run one action call; returns (status, decoded JSON body) like the action server's webhook."""
        from rasa_sdk.interfaces import (
            ActionExecutionRejection,
            ActionMissingDomainException,
            ActionNotFoundException,
        )

        action_call = fastjson.loads(fastjson.dumps_bytes(payload))
        try:
            result = await self.executor.run(action_call)
        except ActionExecutionRejection as exc:
            return 400, {"error": exc.message, "action_name": exc.action_name}
        except ActionNotFoundException as exc:
            return 404, {"error": exc.message, "action_name": exc.action_name}
        except ActionMissingDomainException as exc:
            return 449, {"error": exc.message, "action_name": exc.action_name}
        except Exception as exc:  # the action server answers 500 to a crashing action
            logger.exception("action '%s' failed in process", action_name)
            return 500, {"error": str(exc)}
        body = result.model_dump() if result else None
        return 200, fastjson.loads(fastjson.dumps_bytes(body))

    async def close(self) -> None:
        """Nothing to release (the action client's interface)."""
