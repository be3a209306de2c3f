"""The vocabulary every layer shares: the typed plan and sheet plan with their enums, read and
written only through these classes (``plan``), and the spelling rules users write by
(``patterns``).

May import: storage.
"""
