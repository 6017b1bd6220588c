"""Processing of stored inbound deliveries: one handler per source.

`spaces` handles Cobot's own deliveries; `locks` registers its vendor handlers at start-up
(spaces never imports locks).
"""

from collections.abc import Callable

from accessbridge.work import WorkPermanentError

DeliveryHandler = Callable[..., str | None]
_handlers: dict[str, DeliveryHandler] = {}


def delivery_handler_register(source: str, handler: DeliveryHandler) -> None:
    _handlers[source] = handler


def delivery_process(*, delivery) -> str | None:
    handler = _handlers.get(delivery.source)
    if handler is None:
        raise WorkPermanentError(f"No handler for deliveries from {delivery.source!r}.")
    return handler(delivery=delivery)
