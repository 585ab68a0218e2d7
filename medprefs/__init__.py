"""medprefs: leak-proof reasoning-preference data from Japanese medical exam questions, and the CPT + RPO trainer."""

__version__ = "0.1.0"
