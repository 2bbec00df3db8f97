"""Where SQLite's statements end: `sqlite3_complete`'s own state machine, run once over the script.

Asking `sqlite3.complete_statement(script[start:end])` at every `;` reads the statement again
from its start each time: quadratic for a trigger body of 100,000 `;` (15-20 s for 100 KB). The
state machine below is the one in SQLite's complete.c (the same eight states and token classes),
fed once, token by token, so the whole script is read in one pass. Each cut it proposes is still
confirmed by `sqlite3.complete_statement` on that statement alone (linear in total), so SQLite
has the last word on every cut.
"""

from __future__ import annotations

import re
import sqlite3

from ..sqltext import tokenize

# Token classes of complete.c.
_SEMI, _WS, _OTHER, _EXPLAIN, _CREATE, _TEMP, _TRIGGER, _END = range(8)
# States: 0 INVALID, 1 START, 2 NORMAL, 3 EXPLAIN, 4 CREATE, 5 TRIGGER, 6 SEMI, 7 END.
_START = 1
_TRANSITIONS = (
    # SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
    (1, 0, 2, 3, 4, 2, 2, 2),  # 0 INVALID: leading white space and comments
    (1, 1, 2, 3, 4, 2, 2, 2),  # 1 START: just after a `;` that ended a statement
    (1, 2, 2, 2, 2, 2, 2, 2),  # 2 NORMAL
    (1, 3, 3, 2, 4, 2, 2, 2),  # 3 EXPLAIN
    (1, 4, 2, 2, 2, 4, 5, 2),  # 4 CREATE
    (6, 5, 5, 5, 5, 5, 5, 5),  # 5 TRIGGER: in CREATE TRIGGER, a `;` does not end the statement
    (6, 6, 5, 5, 5, 5, 5, 7),  # 6 SEMI: after a `;` in a trigger
    (1, 7, 5, 5, 5, 5, 5, 5),  # 7 END: END after a `;` in a trigger
)
_KEYWORDS = {
    "create": _CREATE,
    "trigger": _TRIGGER,
    "temp": _TEMP,
    "temporary": _TEMP,
    "end": _END,
    "explain": _EXPLAIN,
}
# In code (outside literals, quoted names and comments): a run of identifier characters (SQLite's
# IdChar: letters, digits, _, $ and every non-ASCII character), white space, `;`, or one other character.
_CODE = re.compile(r"([A-Za-z0-9_$\x80-\U0010ffff]+)|([ \t\n\f\r\v]+)|(;)|.", re.DOTALL)
_COMMENT, _LITERAL = _WS, _OTHER


def split(sql: str) -> list[str]:
    """Cut `sql` after each `;` that ends a statement, as `sqlite3_complete` decides."""
    chunks: list[str] = []
    start = 0
    state = 0
    for token in tokenize(sql, "sqlite"):
        if token.kind != "code":
            state = _TRANSITIONS[state][_COMMENT if token.kind == "comment" else _LITERAL]
            continue
        for match in _CODE.finditer(token.text):
            word, space, semi = match.groups()
            if semi:
                state = _TRANSITIONS[state][_SEMI]
                end = token.start + match.end()
                if state == _START and sqlite3.complete_statement(sql[start:end]):
                    chunks.append(sql[start:end])
                    start = end
            elif space:
                state = _TRANSITIONS[state][_WS]
            elif word:
                state = _TRANSITIONS[state][_KEYWORDS.get(word.lower(), _OTHER)]
            else:
                state = _TRANSITIONS[state][_OTHER]
    chunks.append(sql[start:])
    return chunks
