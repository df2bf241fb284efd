"""tracking: campaigns.track, counts per minute (anonymous) and per-subscriber events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('track', sa.JSON(), server_default='[]', nullable=False))
    op.create_table(
        'track_counts',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('machine', sa.Boolean(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            'campaign_id', 'kind', 'machine', 'url', 'minute', name=op.f('pk_track_counts')
        ),
    )
    op.create_table(
        'track_events',
        sa.Column(
            'id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False
        ),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('machine', sa.Boolean(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_track_events')),
    )
    with op.batch_alter_table('track_events', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_track_events_campaign_id_kind_subscriber_id'),
            ['campaign_id', 'kind', 'subscriber_id'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('track_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_track_events_campaign_id_kind_subscriber_id'))
    op.drop_table('track_events')
    op.drop_table('track_counts')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('track')
