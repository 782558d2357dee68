"""elicence: the electronic licence (电子证照) service of an online government service hall."""

import warnings

__version__ = "0.1.0"

# pyHanko imports cryptography's DSA key types, which cryptography 51 deprecates on import; we
# sign and accept no DSA, and the warning on every command's stderr would only alarm an operator
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko(\.|$)")
