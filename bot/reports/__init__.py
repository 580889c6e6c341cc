"""Managers' reports: the weekly digest, the annual complaints report and CSV exports.

Counts and case references only: no names, no email addresses, no subjects, no message text.
Pure functions take the clock as an argument; only :mod:`bot.reports.schedule` and the
commands read the time.
"""
