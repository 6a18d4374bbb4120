"""aeserve's offline trainer: data readers, the training loop, evaluation, plots and the CLI."""
