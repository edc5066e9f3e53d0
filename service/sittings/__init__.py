"""Sittings: candidates' attempts at assessments and their saved answers, as stored (`attempts`,
`responses`). The layer above assessments and below results: the score pipeline, the reporting reads
of results and aggregates, and delivery's candidate flow all read and write these tables through
`service/sittings/attempts.py`, the tables' one owner."""
