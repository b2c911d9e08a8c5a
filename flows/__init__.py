"""Prefect flows: wiring of the stage functions, no business logic.

Tasks pass run ids, paths and times between each other, never DataFrames, so each step can
be re-run alone and a worker never ships large data through Prefect's result store.
"""
