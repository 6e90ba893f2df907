"""The core: contracts and machinery that know no topic."""
