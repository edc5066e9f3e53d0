"""QTI item exchange: the item bank as a 1EdTech QTI 3.0 content package, and QTI 3.0 and 2.x packages
read into item documents.

`xml` parses untrusted XML safely and reads QTI 2.x as QTI 3.0; `write` turns items into a package,
`standard` one QTI item into an item document and `read` a package into item documents, all pure;
`exchange` runs them against a tenant's bank.
"""
