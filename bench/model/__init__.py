"""The model layer: loading a model (offline alias, hub id, folder), adapters, embeddings,
token packing and cost meters."""
