"""The commands a user types: ``ngff-resave`` and its subcommands (``main``, which only parses
arguments and calls one step), ``ngff-resave convert INPUT OUTPUT`` for one dataset without a
sheet (``one_dataset``), and the example datasets of ``make demo`` (``examples``).

May import: steps, sheet, report, checks, planning, ome, arrays, source, records, model, storage.
"""
