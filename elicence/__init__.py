"""elicence: the electronic licence (电子证照) service of an online government service hall."""

__version__ = "0.1.0"
