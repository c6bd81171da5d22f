"""Classic group states and the transitions Kafka allows between them (GroupState.scala).

    Empty -> PreparingRebalance -> CompletingRebalance -> Stable
      ^            ^   |  ^                |               |
      |            |   |  +----------------+---------------+
      +------------+---+  (rebalance again)
    any state -> Dead (unloaded or deleted)
"""

from __future__ import annotations

import enum


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


# target state -> the states a group may move to it from
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
}


class IllegalTransitionError(RuntimeError):
    """A bug: the coordinator tried a transition the state table forbids."""


def can_transition(current: GroupState, target: GroupState) -> bool:
    return current in VALID_PREVIOUS_STATES[target]


def check_transition(group_id: str, current: GroupState, target: GroupState) -> None:
    if not can_transition(current, target):
        raise IllegalTransitionError(f"group {group_id} cannot move from {current} to {target}")
