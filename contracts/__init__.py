"""Versioned message contracts: marshmallow schemas, exported as JSON Schema and AsyncAPI."""
