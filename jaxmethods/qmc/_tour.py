"""Tour cases for jaxmethods.qmc."""

from .._tour import TourCase


CASES: list[TourCase] = []
