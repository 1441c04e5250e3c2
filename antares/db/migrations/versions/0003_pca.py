"""pca: fitted principal component analyses (antares pca_fit), stored as JSON arrays

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pca',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('product', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('measurements', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('n_components', sa.Integer(), nullable=False),
    sa.Column('components', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('mean', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('explained_variance', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('explained_variance_ratio', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('n_samples', sa.Integer(), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('n_components >= 1', name='components_positive'),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )


def downgrade() -> None:
    op.drop_table('pca', schema='antares')
