"""Small hand-built X12 files for the mapping tests: segments as text, envelopes and counts filled in."""

from __future__ import annotations

ISA = (
    "ISA*00*          *00*          *30*PAYERSENDER    *30*PROVIDERRECV   *260101*1200*^*00501*000000001*0*T*:"
)


def transaction(body: list[str], code: str = "835", control: str = "0001", version: str = "005010X221A1") -> list[str]:
    """ST + body + SE with the right count."""
    st = f"ST*{code}*{control}" + (f"*{version}" if code == "837" else "")
    return [st, *body, f"SE*{len(body) + 2}*{control}"]


def interchange(*transactions: list[str], version: str = "005010X221A1", functional: str = "HP") -> str:
    segments = [ISA, f"GS*{functional}*PAYERSENDER*PROVIDERRECV*20260101*1200*1*X*{version}"]
    for one in transactions:
        segments += one
    segments += [f"GE*{len(transactions)}*1", "IEA*1*000000001"]
    return "~\n".join(segments) + "~\n"


def remit_header(
    payer: str = "N1*PR*ACME HEALTH PLAN",
    payee_state: str | None = "TX",
    bpr_date: str | None = "20250301",
    dtm405: str | None = None,
) -> list[str]:
    bpr = "BPR*I*100.00*C*CHK" + ("************" + bpr_date if bpr_date else "")
    rows = [bpr, "TRN*1*12345*1512345678"]
    if dtm405:
        rows.append(f"DTM*405*{dtm405}")
    rows += [payer, "N3*1 PAYER WAY", "N4*DALLAS*TX*75001", "N1*PE*GOOD DOCTORS*XX*1234567893"]
    if payee_state:
        rows += ["N3*2 CLINIC RD", f"N4*AUSTIN*{payee_state}*78701"]
    return rows


def claim(
    claim_id: str = "ACCT1",
    status: str = "1",
    charge: str = "1000.00",
    paid: str = "300.00",
    filing: str = "12",
    icn: str = "ICN1",
    extra: list[str] | None = None,
    lines: list[list[str]] | None = None,
    patient: str = "NM1*QC*1*DOE*JANE****MI*MEMBER123",
) -> list[str]:
    """CLP + claim-level segments + service lines (each a list starting with SVC)."""
    rows = [f"CLP*{claim_id}*{status}*{charge}*{paid}**{filing}*{icn}", patient, *(extra or [])]
    for line in lines if lines is not None else [[f"SVC*HC:99285*{charge}*{paid}**1", "DTM*472*20250201",
                                                    f"CAS*CO*45*{float(charge) - float(paid):.2f}"]]:  # fmt: skip
        rows += line
    return rows


def remit(*claims: list[str], header: list[str] | None = None, control: str = "0001") -> list[str]:
    body = [*(header if header is not None else remit_header()), "LX*1"]
    for one in claims:
        body += one
    return transaction(body, control=control)
