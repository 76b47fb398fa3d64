"""mediarec: a hybrid video recommender that plugs into a Django site."""
