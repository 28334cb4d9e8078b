"""Tour cases for jaxmethods.ops."""

from .._tour import TourCase


CASES: list[TourCase] = []
