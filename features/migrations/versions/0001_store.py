"""The store: claims, attempts and predictions.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEVELS = ("reconsideration", "written_appeal", "peer_to_peer", "external_review", "legal")
LEVEL_FIELDS = ("eligible", "p_success", "expected_allowed", "expected_recovery", "expected_days", "net_value")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("claim_id", sa.String(), primary_key=True),
        sa.Column("payer_id", sa.String(), nullable=False),
        sa.Column("plan_type", sa.String()),
        sa.Column("funding", sa.String()),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("place_of_service", sa.String(), nullable=False),
        sa.Column("cpt_code", sa.String(), nullable=False),
        sa.Column("modifier", sa.String()),
        sa.Column("units", sa.Integer()),
        sa.Column("specialty", sa.String()),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("nsa_eligible", sa.Boolean()),
        sa.Column("network_gap", sa.Boolean()),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("initial_payment_date", sa.Date()),
        sa.Column("billed_amount", sa.Float(), nullable=False),
        sa.Column("initial_allowed_amount", sa.Float(), nullable=False),
        sa.Column("qpa_amount", sa.Float()),
        sa.Column("carc_codes", sa.String()),
        sa.Column("has_medical_necessity_letter", sa.Boolean()),
        sa.Column("has_clinical_notes", sa.Boolean()),
        sa.Column("prior_authorization", sa.Boolean()),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_table(
        "attempts",
        sa.Column("claim_id", sa.String(), sa.ForeignKey("claims.claim_id"), primary_key=True),
        sa.Column("level", sa.SmallInteger(), primary_key=True),
        sa.Column("prior_level", sa.SmallInteger()),
        sa.Column("submitted_date", sa.Date(), nullable=False),
        sa.Column("resolved_date", sa.Date()),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("final_allowed_amount", sa.Float()),
        sa.Column("recorded_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("claim_id", sa.String(), sa.ForeignKey("claims.claim_id"), nullable=False),
        sa.Column("model_name", sa.String(), nullable=False),
        sa.Column("model_version", sa.String()),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("served_at", STAMP, nullable=False),
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("current_level", sa.SmallInteger(), nullable=False),
        sa.Column("current_allowed_amount", sa.Float(), nullable=False),
        sa.Column("recommended_action", sa.String(), nullable=False),
        sa.Column("expected_net_recovery", sa.Float()),
        *(
            sa.Column(f"{name}_{level}", sa.Boolean() if name == "eligible" else sa.Float())
            for name in LEVEL_FIELDS
            for level in LEVELS
        ),
    )
    op.create_index("ix_predictions_claim_id", "predictions", ["claim_id"])
    op.create_index("ix_predictions_as_of_date", "predictions", ["as_of_date"])


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("attempts")
    op.drop_table("claims")
