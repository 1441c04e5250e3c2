"""Stages of the main job; each orchestrates cube, db and plugins and records its run."""
