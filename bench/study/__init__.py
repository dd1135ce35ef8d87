"""The study's machinery: sweeps, presets, capacity quantities, figures, and the adapter-loading measurement."""
