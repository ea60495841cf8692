"""cxctl: the command-line client."""

import warnings

# nameko imports eventlet, which warns on import; the CLI does not use eventlet itself.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
