"""Prefect orchestration of the intake: thin flows over the plain functions of ``coc_intake``."""

from coc_intake.flows._env import configure

configure()
