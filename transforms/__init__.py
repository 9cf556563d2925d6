"""Beam transforms, one stage a module, with their logic in pure functions."""
