"""Package data: the vendored TabFormer sample (``data/tabformer-sample/``), see ``data/README.md``.

``setup.py`` maps this folder to ``fraudlake.sample_data`` so the producer finds the sample through
``importlib.resources`` in a checkout, an editable install and an image alike.
"""
