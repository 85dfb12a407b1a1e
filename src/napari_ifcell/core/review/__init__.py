"""Reviewing cells: the review state replayed from its journal, the review queue,
agreement (Cohen's kappa) and the gallery crops.

This package's names are the scripting API."""

from napari_ifcell.core.review.agreement import Agreement, agreement, agreement_table, auto_vs_people, between_reviewers
from napari_ifcell.core.review.gallery import CLASS_CHANNELS, cell_crops, channels_for
from napari_ifcell.core.review.queue import ORDERS, QueueSettings, review_queue, uncertainty
from napari_ifcell.core.review.state import STATUSES, ReviewState, final_class

__all__ = [
    "CLASS_CHANNELS",
    "ORDERS",
    "STATUSES",
    "Agreement",
    "QueueSettings",
    "ReviewState",
    "agreement",
    "agreement_table",
    "auto_vs_people",
    "between_reviewers",
    "cell_crops",
    "channels_for",
    "final_class",
    "review_queue",
    "uncertainty",
]
