"""Fixtures of the policies tests: the tiny shop of :mod:`policy_support`, parsed and expanded."""

from __future__ import annotations

import pytest
from policy_support import SHOP_DOMAIN, SHOP_RULES, SHOP_STORIES, domain_from_yaml, story_data_from_yaml

from bot.domain import Domain
from bot.training_data import StoryData
from policies.story_graph import TrainingTracker, generate_trackers


@pytest.fixture
def shop_domain() -> Domain:
    return domain_from_yaml(SHOP_DOMAIN)


@pytest.fixture
def shop_data() -> StoryData:
    return story_data_from_yaml(SHOP_RULES + SHOP_STORIES)


@pytest.fixture
def shop_trackers(shop_domain: Domain, shop_data: StoryData) -> list[TrainingTracker]:
    return generate_trackers(shop_data, shop_domain)
