"""Building blocks shared by several plugins (the Llama model, diffusion numerics, ...)."""
