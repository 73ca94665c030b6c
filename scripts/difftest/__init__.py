"""Helpers of scripts/difftest.py, the differential fuzzer (memcached 1.6.18 vs ringcached).

generator  seeded random cases (units of protocol bytes, grouped into batches)
servers    starting, checking and stopping the two server processes
session    sending one case on a fresh connection and reading the whole answer
answers    parsing an answer stream, normalizing CAS and time values, comparing
minimize   delta debugging of a differing case
known      the table of accepted differences
"""
