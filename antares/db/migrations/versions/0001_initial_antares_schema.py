"""initial antares schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('class_scheme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('collection', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, from_text='ST_GeomFromEWKT', name='geometry', nullable=False, spatial_index=False), nullable=False),
    sa.Column('area_km2', sa.Float(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('source_crs', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_index('idx_region_geom', 'region', ['geom'], unique=False, schema='antares', postgresql_using='gist')
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='running', nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('code_version', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'done', 'failed', 'interrupted')", name='status_valid'),
    sa.PrimaryKeyConstraint('id'),
    schema='antares'
    )
    op.create_index('ix_run_kind_name', 'run', ['kind', 'name'], unique=False, schema='antares')
    op.create_table('legend_class',
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('colour', sa.Text(), nullable=False),
    sa.CheckConstraint("colour ~ '^#[0-9a-f]{6}$'", name='colour_hex'),
    sa.ForeignKeyConstraint(['scheme_id'], ['antares.class_scheme.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scheme_id', 'code'),
    sa.UniqueConstraint('scheme_id', 'name'),
    schema='antares'
    )
    op.create_table('model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('product', sa.Text(), nullable=False),
    sa.Column('blob', postgresql.BYTEA(), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scheme_id'], ['antares.class_scheme.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('run_tile',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ix', sa.Integer(), nullable=False),
    sa.Column('iy', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'ix', 'iy'),
    schema='antares'
    )
    op.create_table('sample_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('training', 'validation')", name='kind_valid'),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scheme_id'], ['antares.class_scheme.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'name'),
    schema='antares'
    )
    op.create_table('segmentation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('product', sa.Text(), nullable=False),
    sa.Column('algorithm', sa.Text(), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('crs', sa.Text(), nullable=False),
    sa.Column('n_segments', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('classification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['antares.model.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['segmentation_id'], ['antares.segmentation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )
    op.create_table('sample',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(dimension=2, from_text='ST_GeomFromEWKT', name='geometry', nullable=False, spatial_index=False), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('class_code', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['set_id'], ['antares.sample_set.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    schema='antares'
    )
    op.create_index('idx_sample_geom', 'sample', ['geom'], unique=False, schema='antares', postgresql_using='gist')
    op.create_index(op.f('ix_antares_sample_set_id'), 'sample', ['set_id'], unique=False, schema='antares')
    op.create_table('segment',
    sa.Column('segmentation_id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.BigInteger(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', dimension=2, from_text='ST_GeomFromEWKT', name='geometry', nullable=False, spatial_index=False), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('pixel_count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['segmentation_id'], ['antares.segmentation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('segmentation_id', 'segment_id'),
    schema='antares'
    )
    op.create_index('idx_segment_geom', 'segment', ['geom'], unique=False, schema='antares', postgresql_using='gist')
    op.create_table('prediction',
    sa.Column('classification_id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.BigInteger(), nullable=False),
    sa.Column('class_code', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('entropy', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['classification_id'], ['antares.classification.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('classification_id', 'segment_id'),
    schema='antares'
    )
    op.create_table('validation_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('classification_id', sa.Integer(), nullable=True),
    sa.Column('sample_set_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['classification_id'], ['antares.classification.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['antares.run.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sample_set_id'], ['antares.sample_set.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    schema='antares'
    )


def downgrade() -> None:
    op.drop_table('validation_result', schema='antares')
    op.drop_table('prediction', schema='antares')
    op.drop_index('idx_segment_geom', table_name='segment', schema='antares', postgresql_using='gist')
    op.drop_table('segment', schema='antares')
    op.drop_index(op.f('ix_antares_sample_set_id'), table_name='sample', schema='antares')
    op.drop_index('idx_sample_geom', table_name='sample', schema='antares', postgresql_using='gist')
    op.drop_table('sample', schema='antares')
    op.drop_table('classification', schema='antares')
    op.drop_table('segmentation', schema='antares')
    op.drop_table('sample_set', schema='antares')
    op.drop_table('run_tile', schema='antares')
    op.drop_table('model', schema='antares')
    op.drop_table('legend_class', schema='antares')
    op.drop_index('ix_run_kind_name', table_name='run', schema='antares')
    op.drop_table('run', schema='antares')
    op.drop_index('idx_region_geom', table_name='region', schema='antares', postgresql_using='gist')
    op.drop_table('region', schema='antares')
    op.drop_table('class_scheme', schema='antares')
