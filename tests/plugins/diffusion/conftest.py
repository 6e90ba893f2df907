"""One torch thread for these tests (the root conftest sets the rest of the environment).

On a shared 2-core machine torch's intra-op threads spin against other work, and the small
tensors here run up to 10x slower with two threads than with one.
"""

import torch

torch.set_num_threads(1)
