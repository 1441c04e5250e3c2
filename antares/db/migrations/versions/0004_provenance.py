"""provenance: what a run made (antares.run.outputs: dataset ids indexed, regions registered, files written)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('run', sa.Column('outputs', postgresql.JSONB(astext_type=sa.Text()),
                                   server_default=sa.text("'{}'::jsonb"), nullable=False), schema='antares')


def downgrade() -> None:
    op.drop_column('run', 'outputs', schema='antares')
