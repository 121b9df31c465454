"""The GraphQL API: strawberry schema from core types and plugin contributions."""
