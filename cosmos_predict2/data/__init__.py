"""Datasets, video IO, synthetic data and resumable loaders.

Import the submodules directly (``cosmos_predict2.data.bridge``, ``.video_text``, ``.loader``,
``.video_io``, ``.synthetic``); this package file stays import-light on purpose.
"""
