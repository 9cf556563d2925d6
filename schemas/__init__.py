"""The dataset contract: record types that are the single source of truth for every output."""
