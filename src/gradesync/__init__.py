"""gradesync: keeps an SIS and other systems up to date with the grades in Blackboard Learn."""

__version__ = "0.1.0"
