"""Generated protobuf modules of the gRPC proxy (do not edit; see ``regenerate.py``).

The messages live in a private descriptor pool, not in protobuf's default one, so that this
package and Optuna's own generated module (which defines the same ``optuna.*`` names) can be
imported into one process.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
