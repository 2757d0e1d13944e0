"""The bundled configuration: xã Vĩnh Phong's commune file, example hamlets, targets and rule sets.

Only data lives here. `rasoat.settings` loads and checks it; a commune points `--config` at its
own copy of this folder to change anything.
"""

from pathlib import Path

BUNDLED_CONFIG_DIR = Path(__file__).parent
