"""change detections and their change objects (detect_change)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_detection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('statistics', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('crs', sa.Text(), nullable=False),
    sa.Column('pixel_area_m2', sa.Float(), nullable=False),
    sa.Column('n_objects', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('change_object',
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', dimension=2, from_text='ST_GeomFromEWKT', name='geometry', nullable=False, spatial_index=False), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('pixel_count', sa.BigInteger(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('pre_class', sa.Integer(), nullable=True),
    sa.Column('post_class', sa.Integer(), nullable=True),
    sa.Column('class_tie', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['antares.change_detection.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('change_id', 'object_id'),
    schema='antares'
    )
    op.create_index('idx_change_object_geom', 'change_object', ['geom'], unique=False, schema='antares', postgresql_using='gist')


def downgrade() -> None:
    op.drop_index('idx_change_object_geom', table_name='change_object', schema='antares', postgresql_using='gist')
    op.drop_table('change_object', schema='antares')
    op.drop_table('change_detection', schema='antares')
