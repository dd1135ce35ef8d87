"""The leaderboard: submissions, their validation, the JSON schemas and the generated board."""
