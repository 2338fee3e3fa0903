"""vcmon: video-conference rollout planner and network readiness monitor."""

__version__ = "0.1.0"
