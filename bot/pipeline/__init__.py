"""The intake pipeline: a typed context through small stages."""
