"""Shared analyses that rules query: names, scopes, statement order, freezing."""
