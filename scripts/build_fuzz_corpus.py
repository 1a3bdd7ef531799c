"""Build the fuzz corpus of messy and hostile worklists (``tests/service/test_fuzz_corpus.py`` runs it).

Every class of input issue #16 names, written by hand from a small valid worklist, plus random mutations
of that worklist drawn with hypothesis (truncations, byte flips, column shuffles, type swaps, stray
quotes, separators and line breaks) under a fixed seed, so the corpus is the same on every run. A
``manifest.json`` lists each file with its class. The tests build it in a temporary folder; to look at it:

    python scripts/build_fuzz_corpus.py --output tests/fixtures/fuzz --mutations 40
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

BASE_CLAIMS = 24
SEED = 16
HOSTILE_TEXT = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "a\x01b", "'=q"]
SWAP_VALUES = ["", "abc", "1e300", "-1", "on", "2026-3-2", "=1+1", "23", "99999999999", "NaN", "true", "\xc9"]
STRAY = [b",", b'"', b"\r", b"\n", b"\x00", b"\xc9", b" ", b"'", b"\xef\xbb\xbf", b"\r\n"]


def base_worklist(claims: int = BASE_CLAIMS) -> pd.DataFrame:
    from training.simulator import simulate_worklist

    return simulate_worklist(claims, seed=SEED)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode()


def parquet_bytes(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _write_rows(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


# --- the classes of the issue, one file each -------------------------------------------------------------


def fixed_cases(frame: pd.DataFrame) -> dict[str, bytes]:
    good = csv_bytes(frame)
    lines = _lines(good)
    rows = _rows(good)
    header = rows[0]
    cases: dict[str, bytes] = {
        "empty.csv": b"",
        "blank_lines_only.csv": b"\n\n  \n",
        "header_only.csv": lines[0] + b"\n",
        "no_contract_columns.csv": b"colour,size\nred,1\nblue,2\n",
        "utf16.csv": good.decode().encode("utf-16"),
        "nul_header.csv": b"claim_id\x00,payer_id\n1,2\n",
        "header_unbalanced_quote.csv": b'"claim_id,payer_id\nC1,AETNA\n',
        "utf8_bom.csv": b"\xef\xbb\xbf" + good,
        "crlf.csv": good.replace(b"\n", b"\r\n"),
        "lone_cr_in_a_line.csv": b"\n".join([*lines[:5], lines[5].replace(b",", b",\r", 1), *lines[6:]]),
        "latin1_byte_late.csv": b"\n".join([*lines[:-3], lines[-3].replace(b",", b",\xc9", 1), *lines[-2:]]),
        "ragged_line.csv": b"\n".join([*lines[:6], lines[6] + b",surplus,fields", *lines[7:]]),
        "short_line.csv": b"\n".join([*lines[:4], lines[4].rsplit(b",", 3)[0], *lines[5:]]),
        "unbalanced_quote.csv": b"\n".join([*lines[:8], lines[8].replace(b",", b',"', 1), *lines[9:]]),
        "duplicate_column.csv": _write_rows([[*header, "billed_amount"], *([*row, "1"] for row in rows[1:])]),
        "blank_lines_between.csv": b"\n\n".join(lines),
    }
    position = header.index
    injected = [list(row) for row in rows]
    for i, text in enumerate(HOSTILE_TEXT, start=1):
        injected[i][position("claim_id")] = text
    injected[-2][position("billed_amount")] = "1e300"
    injected[-3][position("emergency")] = "on"
    injected[-4][position("service_date")] = "2026-3-2"
    cases["hostile_values.csv"] = _write_rows(injected)

    table = pa.Table.from_pandas(frame, preserve_index=False)
    count = table.num_rows
    cases["good.parquet"] = parquet_bytes(table)
    cases["nested_extra_columns.parquet"] = parquet_bytes(
        table.append_column("tags", pa.array([["a", "b"]] * count)).append_column("meta", pa.array([{"k": 1}] * count))
    )
    claim_ids = table.column("claim_id").to_pylist()
    index = table.schema.get_field_index("claim_id")
    cases["claim_id_as_list.parquet"] = parquet_bytes(
        table.set_column(index, "claim_id", pa.array([[c] for c in claim_ids]))
    )
    binary = [c.encode() for c in claim_ids]
    binary[3] = b"\xff\xfe"
    cases["claim_id_as_binary.parquet"] = parquet_bytes(
        table.set_column(index, "claim_id", pa.array(binary, pa.binary()))
    )
    duplicated = pa.Table.from_arrays(
        [*table.columns, table.column("billed_amount")], [*table.column_names, "billed_amount"]
    )
    cases["duplicate_field_names.parquet"] = parquet_bytes(duplicated)
    pos = table.schema.get_field_index("place_of_service")
    cases["place_of_service_as_integers.parquet"] = parquet_bytes(
        table.set_column(pos, "place_of_service", pa.array([int(p) for p in table.column(pos).to_pylist()]))
    )
    metadata = dict(table.schema.metadata or {})
    metadata[b"pandas"] = b'{"not": "what pandas wrote"'
    cases["bad_pandas_metadata.parquet"] = parquet_bytes(table.replace_schema_metadata(metadata))
    groups = parquet_bytes(table, row_group_size=8, compression="none")
    corrupt = bytearray(groups)
    middle = len(corrupt) // 2
    corrupt[middle : middle + 64] = b"\xff" * 64  # a data page of a middle row group, footer intact
    cases["corrupt_data_page.parquet"] = bytes(corrupt)
    cases["truncated.parquet"] = groups[: len(groups) // 2]
    cases["not_parquet_at_all.parquet"] = good
    return cases


# --- random mutations, drawn with hypothesis --------------------------------------------------------------


def _csv_mutation(good: bytes) -> st.SearchStrategy[tuple[str, bytes]]:
    rows = _rows(good)
    width = len(rows[0])

    @st.composite
    def mutate(draw) -> tuple[str, bytes]:
        kind = draw(st.sampled_from(["stray", "flip", "truncate", "swap_types", "shuffle_header", "shuffle_columns"]))
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        if kind == "truncate":
            return kind, good[: draw(st.integers(0, len(good) - 1))]
        if kind == "flip":
            data = bytearray(good)
            for _ in range(draw(st.integers(1, 6))):
                at = rng.randrange(len(data))
                data[at] ^= rng.randrange(1, 256)
            return kind, bytes(data)
        if kind in ("shuffle_columns", "shuffle_header"):
            order = list(range(width))
            rng.shuffle(order)
            if kind == "shuffle_columns":  # every row with it: the same table
                return kind, _write_rows([[row[i] for i in order] for row in rows])
            return kind, _write_rows([[rows[0][i] for i in order], *rows[1:]])  # values under the wrong names
        if kind == "swap_types":
            swapped = [list(row) for row in rows]
            for _ in range(draw(st.integers(1, 10))):
                row = rng.randrange(1, len(swapped))
                swapped[row][rng.randrange(width)] = rng.choice(SWAP_VALUES + HOSTILE_TEXT)
            return kind, _write_rows(swapped)
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 5))):
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(STRAY)
        return kind, bytes(data)

    return mutate()


def _parquet_mutation(table: pa.Table) -> st.SearchStrategy[tuple[str, bytes]]:
    good = parquet_bytes(table, row_group_size=6, compression="none")

    @st.composite
    def mutate(draw) -> tuple[str, bytes]:
        kind = draw(st.sampled_from(["truncate", "flip", "shuffle_columns", "swap_types"]))
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        if kind == "truncate":
            return kind, good[: draw(st.integers(0, len(good) - 1))]
        if kind == "flip":
            data = bytearray(good)
            for _ in range(draw(st.integers(1, 6))):
                at = rng.randrange(len(data))
                data[at] ^= rng.randrange(1, 256)
            return kind, bytes(data)
        if kind == "shuffle_columns":
            names = list(table.column_names)
            rng.shuffle(names)
            return kind, parquet_bytes(table.select(names))
        swapped = table
        for _ in range(draw(st.integers(1, 3))):
            position = rng.randrange(swapped.num_columns)
            values = swapped.column(position).to_pylist()
            kind_to = rng.choice(["text", "number", "bool", "list", "binary"])
            if kind_to == "text":
                column = pa.array([None if v is None else str(v) for v in values], pa.string())
            elif kind_to == "number":
                column = pa.array([float(i) - 3.5 for i in range(len(values))])
            elif kind_to == "bool":
                column = pa.array([i % 2 == 0 for i in range(len(values))])
            elif kind_to == "list":
                column = pa.array([[str(v)] for v in values])
            else:
                column = pa.array([str(v).encode() for v in values], pa.binary())
            swapped = swapped.set_column(position, swapped.field(position).name, column)
        return kind, parquet_bytes(swapped)

    return mutate()


def mutations(frame: pd.DataFrame, count: int) -> list[tuple[str, bytes]]:
    """``count`` mutated files (about two CSV for one Parquet), the same on every run."""
    good = csv_bytes(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    strategy = st.one_of(
        _csv_mutation(good).map(lambda case: (f"{case[0]}.csv", case[1])),
        _csv_mutation(good).map(lambda case: (f"{case[0]}.csv", case[1])),
        _parquet_mutation(table).map(lambda case: (f"{case[0]}.parquet", case[1])),
    )
    drawn: list[tuple[str, bytes]] = []

    @settings(
        max_examples=count,
        derandomize=True,  # a fixed seed: the same corpus on every run
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(case: tuple[str, bytes]) -> None:
        if len(drawn) < count:
            drawn.append(case)

    collect()
    return drawn


def build_corpus(output: Path, mutated: int = 24, frame: pd.DataFrame | None = None) -> list[dict]:
    """Write the corpus into ``output``; returns the manifest (also written as ``manifest.json``)."""
    output.mkdir(parents=True, exist_ok=True)
    frame = base_worklist() if frame is None else frame
    manifest = []
    for name, data in fixed_cases(frame).items():
        (output / name).write_bytes(data)
        manifest.append({"file": name, "class": name.rsplit(".", 1)[0]})
    for number, (name, data) in enumerate(mutations(frame, mutated)):
        file = f"mutated-{number:03d}-{name}"
        (output / file).write_bytes(data)
        manifest.append({"file": file, "class": "mutation: " + name.rsplit(".", 1)[0]})
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("tests/fixtures/fuzz"))
    parser.add_argument("--mutations", type=int, default=24, help="Random mutations to draw.")
    arguments = parser.parse_args()
    manifest = build_corpus(arguments.output, arguments.mutations)
    print(f"wrote {len(manifest)} files to {arguments.output}")


if __name__ == "__main__":
    main()
