"""One byte-level mutation strategy for the parser robustness tests (each format passes its
own samples and the tokens worth inserting)."""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st


def mutated(samples: Sequence[bytes], tokens: Sequence[bytes], *, max_duplicate: int = 200):  # noqa: ANN201
    """Sample bytes with 1–6 random flips, token insertions, deletions, truncations,
    duplications or swaps."""

    @st.composite
    def strategy(draw) -> bytes:  # noqa: ANN001
        data = bytearray(draw(st.sampled_from(list(samples))))
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "swap"]))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[pos] = draw(st.integers(0, 255))
            elif op == "insert":
                data[pos:pos] = draw(st.sampled_from(list(tokens)))
            elif op == "delete":
                del data[pos:pos + draw(st.integers(1, 40))]
            elif op == "truncate":
                del data[pos:]
            elif op == "duplicate":
                end = min(len(data), pos + draw(st.integers(1, max_duplicate)))
                data[end:end] = data[pos:end]
            elif op == "swap" and len(data) > 2:
                other = draw(st.integers(0, len(data) - 1))
                data[pos], data[other] = data[other], data[pos]
        return bytes(data)

    return strategy()


def parse_all(module, data: bytes, source: str, **options) -> list:  # noqa: ANN001
    """Every statement of ``data`` with its lines read into a list (parsers stream them)."""
    import io

    out = []
    for statement in module.parse(io.BytesIO(data), source, **options):
        statement.lines = list(statement.lines)
        out.append(statement)
    return out
