"""locks.access.apply: one function per operation type."""

from locks.access.apply import OPERATION_HANDLERS
from locks.access.operations import Operation


def test_it_has_a_handler_for_every_operation_type_and_nothing_else():
    assert set(OPERATION_HANDLERS) == set(Operation.__subclasses__())
