"""The subscriber filter language (`subscribers ls --query`, campaign segments): the AST
(nodes.py), the tokenizer and parser (parse.py) and the evaluator the in-memory store uses
(evaluate.py). Pure: the SQL form is compiled in campaignd.db.filters.

May import: the core below it (domain, errors). Never db/, store/ or anything above.
"""

from __future__ import annotations

from campaignd.filters.nodes import And, Compare, Member, Node, Not, Or
from campaignd.filters.parse import MAX_DEPTH, MAX_LENGTH, list_names, parse, parse_checked

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Compare",
    "Member",
    "Node",
    "Not",
    "Or",
    "list_names",
    "parse",
    "parse_checked",
]
