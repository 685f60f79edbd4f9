"""Data: JSONL manifests of samples that point at files, datasets and loaders, built-in datasets."""
