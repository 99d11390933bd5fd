"""The nightly risk run: load the book's history, refit, backtest, simulate, evaluate, store."""
