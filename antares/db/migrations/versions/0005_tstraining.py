"""tstraining: training sets of labelled time series (antares ingest_training --timeseries), raw float32 buffers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('series_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('layout', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('n_samples', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('n_samples >= 0', name='samples_not_negative'),
    sa.ForeignKeyConstraint(['scheme_id'], ['antares.class_scheme.id']),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('series_sample',
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Text(), nullable=False),
    sa.Column('class_code', sa.Integer(), nullable=False),
    sa.Column('series', postgresql.BYTEA(), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], ['antares.series_set.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('set_id', 'position'),
    schema='antares'
    )


def downgrade() -> None:
    op.drop_table('series_sample', schema='antares')
    op.drop_table('series_set', schema='antares')
