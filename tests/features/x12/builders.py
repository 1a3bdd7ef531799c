"""Small hand-built X12 files for the mapping tests: segments as text, envelopes and counts filled in."""

from __future__ import annotations

ISA = "ISA*00*          *00*          *30*PAYERSENDER    *30*PROVIDERRECV   *260101*1200*^*00501*000000001*0*T*:"


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
    for line in (
        lines
        if lines is not None
        else [[f"SVC*HC:99285*{charge}*{paid}**1", "DTM*472*20250201", f"CAS*CO*45*{float(charge) - float(paid):.2f}"]]
    ):
        rows += line
    return rows


def remit(*claims: list[str], header: list[str] | None = None, control: str = "0001") -> list[str]:
    body = [*(header if header is not None else remit_header()), "LX*1"]
    for one in claims:
        body += one
    return transaction(body, control=control)


def submission_header(billing_state: str = "TX", billing_taxonomy: str | None = None) -> list[str]:
    """837P header, submitter, receiver and the billing provider HL (HL*1)."""
    rows = [
        "BHT*0019*00*0123*20250201*1200*CH",
        "NM1*41*2*GOOD DOCTORS*****46*123456789",
        "PER*IC*BILLING OFFICE*TE*5125550100",
        "NM1*40*2*ACME HEALTH PLAN*****46*987654",
        "HL*1**20*1",
    ]
    if billing_taxonomy:
        rows.append(f"PRV*BI*PXC*{billing_taxonomy}")
    rows += [
        "NM1*85*2*GOOD DOCTORS*****XX*1234567893",
        "N3*2 CLINIC RD",
        f"N4*AUSTIN*{billing_state}*78701",
        "REF*EI*123456789",
    ]
    return rows


def subscriber(hl: int, claims: list[list[str]], name: str = "ROE*RICHARD", member: str = "SUBSCRIBER77") -> list[str]:
    """A subscriber HL (the patient) with name, address and birth date, then its claims."""
    rows = [
        f"HL*{hl}*1*22*0",
        "SBR*P*18*******CI",
        f"NM1*IL*1*{name}****MI*{member}",
        "N3*99 PRIVATE LANE",
        "N4*SECRETVILLE*TX*77777",
        "DMG*D8*19610704*F",
        "NM1*PR*2*ACME HEALTH PLAN*****PI*987654",
    ]
    for one in claims:
        rows += one
    return rows


def professional_claim(
    claim_id: str = "ACCT1",
    charge: str = "1000",
    place: str = "23",
    lines: list[list[str]] | None = None,
    extra: list[str] | None = None,
    rendering_taxonomy: str | None = "207P00000X",
    facility_state: str | None = "NM",
) -> list[str]:
    rows = [f"CLM*{claim_id}*{charge}***{place}:B:1*Y*A*Y*Y", "HI*ABK:R0789", *(extra or [])]
    if rendering_taxonomy:
        rows += ["NM1*82*1*HOUSE*GREGORY****XX*1999999984", f"PRV*PE*PXC*{rendering_taxonomy}"]
    if facility_state:
        rows += [
            "NM1*77*2*GENERAL HOSPITAL*****XX*1888888885",
            "N3*5 HOSPITAL DR",
            f"N4*ALBUQUERQUE*{facility_state}*87101",
        ]
    for number, line in enumerate(lines or [[f"SV1*HC:99285*{charge}*UN*1***1**Y"]], start=1):
        rows += [f"LX*{number}", line[0], "DTP*472*D8*20250201", *line[1:]]
    return rows


def submission(*subscribers: list[str], control: str = "0001") -> list[str]:
    body = [*submission_header()]
    for one in subscribers:
        body += one
    return transaction(body, code="837", control=control, version="005010X222A2")
